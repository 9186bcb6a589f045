"""Manual steps: a person confirms, or the run stops before the step and is undone."""

from __future__ import annotations

import io
from typing import Any

from migrator import api

PLAN = """\
plan: deploy
kind: hotfix
steps:
  - name: mark
    sql: create table deployed (x int)
    rollback: {sql: drop table deployed}
  - name: deploy the edge function
    manual: Deploy score_prism with the FC fallback (supabase functions deploy score_prism)
post_checks:
  - {query: select 1, expect: 1}
"""


def test_without_a_terminal_it_needs_yes(migrator: Any, write_plan: Any, sql: Any) -> None:
    result = migrator("apply", write_plan(PLAN))
    assert result.code == 1
    assert "a manual step needs a person" in result.out
    assert sql("select to_regclass('deployed')") == [(None,)]  # the earlier step was undone


def test_yes_confirms_and_records_who(migrator: Any, write_plan: Any, sql: Any) -> None:
    result = migrator("apply", write_plan(PLAN), "--yes", "--operator", "erin")
    assert result.code == 0, result.out
    assert "Deploy score_prism with the FC fallback" in result.out
    memo = sql(
        "select detail->'memo' from migrator.events where step = 'deploy the edge function'"
        " and status = 'done'"
    )
    assert memo == [({"confirmed_by": "erin", "via": "--yes"},)]


def _apply_at_a_terminal(database: str, plan: str, answer: bool) -> tuple[int, list[str]]:
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return answer

    ctx = api.Context(
        out=io.StringIO(), err=io.StringIO(), dsn=database, interactive=True, confirm=confirm
    )
    return api.apply(ctx, plan), asked


def test_at_a_terminal_the_person_confirms(write_plan: Any, database: str, sql: Any) -> None:
    code, asked = _apply_at_a_terminal(database, str(write_plan(PLAN)), True)
    assert code == 0
    assert asked == ["Done? (answer no to stop and undo this run)"]
    assert sql(
        "select detail->'memo'->>'via' from migrator.events where status = 'done' "
        "and step = 'deploy the edge function'"
    ) == [("terminal",)]


def test_at_a_terminal_no_stops_and_undoes(write_plan: Any, database: str, sql: Any) -> None:
    code, _ = _apply_at_a_terminal(database, str(write_plan(PLAN)), False)
    assert code == 1
    assert sql("select to_regclass('deployed')") == [(None,)]
