"""`validate --dsn`: the target read, never written, for the rules that need it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy.exc import InternalError

from migrator import ActionSpec
from migrator.api import Context, validate
from migrator.api.plans import _read_only
from migrator.lint.findings import LintFinding
from migrator.plugin.manager import get_plugin_manager

PLAN = """\
plan: fill
phases: [empty, full]
transitions:
  - name: fill
    from: empty
    to: full
    steps:
      - name: odd table
        backfill:
          table: "no such (table"
          key: id
          statement: update events set kind_id = 1 where id > :lo and id <= :hi
        rollback: {sql: "select 1"}
      - name: copy
        backfill:
          table: events
          key: id
          statement: update events set kind_id = 1 where id > :lo and id <= :hi
        rollback: {sql: "select 1"}
      - name: not yet there
        backfill:
          table: later
          key: id
          statement: update later set x = 1 where id > :lo and id <= :hi
        rollback: {sql: "select 1"}
    post_checks:
      - {query: select 1, expect: 1}
"""


def _problems(result: Any) -> list[dict[str, Any]]:
    assert result.code == 0, result.out + result.err
    found: list[dict[str, Any]] = json.loads(result.out)["problems"]
    return found


def _failing_query(connection: Any, step: Any) -> list[LintFinding]:
    connection.exec_driver_sql("select 1 / 0")
    return []


def test_a_database_rule_that_fails_is_one_warning_for_its_step(
    write_plan: Any, sql: Any, database: str
) -> None:
    sql("create table events (id bigint, kind_id int)")
    registry = get_plugin_manager().build_registry()
    registry.add_action(
        ActionSpec(
            key="divides",
            config=str,
            run=lambda ctx, step: None,
            describe=str,
            lint_database=_failing_query,
        ),
        "tests",
    )
    plan = PLAN.replace(
        '        backfill:\n          table: "no such (table"\n          key: id\n'
        "          statement: update events set kind_id = 1 where id > :lo and id <= :hi\n",
        "        divides: by zero\n",
    )
    out = io.StringIO()
    ctx = Context(out=out, output="json", dsn=database, registry=registry)
    assert validate(ctx, [write_plan(plan)], squawk=False) == 0
    found = json.loads(out.getvalue())["problems"]
    failed = [p for p in found if "could not read the database" in p["message"]]
    assert [(p["path"], p["severity"], "rule" in p) for p in failed] == [
        ("transitions[0].steps[0].divides", "warning", False)
    ]
    assert "division by zero" in failed[0]["message"]
    # the next step was still read (the failed query spoiled nothing): its key has no index;
    # the table the plan makes later is not there: nothing is said about it
    keys = [p["path"] for p in found if p.get("rule") == "backfill-key-not-unique"]
    assert keys == ["transitions[0].steps[1].backfill.key"]


def test_the_rules_read_the_target_in_a_read_only_transaction(sql: Any, database: str) -> None:
    (number,) = sql("show server_version_num")[0]
    with _read_only(database) as (conn, version):
        assert version == f"{int(number) // 10000}.{int(number) % 10000}"
        with pytest.raises(InternalError, match="read-only transaction"):
            conn.exec_driver_sql("create table written_by_lint (x int)")
    assert sql("select to_regclass('written_by_lint')") == [(None,)]
    with _read_only(None) as nothing:
        assert nothing == (None, None)


def test_an_unreachable_target_exits_5_without_its_password(migrator: Any, write_plan: Any) -> None:
    dsn = "postgresql://someone:hunter2secret@127.0.0.1:1/nowhere"
    result = migrator("validate", "--dsn", dsn, write_plan(PLAN))
    assert result.code == 5
    assert "hunter2secret" not in result.out + result.err
    assert "127.0.0.1" in result.out + result.err


def test_without_dsn_no_database_is_read(
    migrator: Any, write_plan: Any, sql: Any, monkeypatch: Any, database: str
) -> None:
    sql("create table events (id bigint, kind_id int)")
    monkeypatch.setenv("MIGRATOR_DSN", database)  # not read by validate
    found = _problems(migrator("validate", "--output", "json", "--no-squawk", write_plan(PLAN)))
    assert [p for p in found if p.get("rule") == "backfill-key-not-unique"] == []
