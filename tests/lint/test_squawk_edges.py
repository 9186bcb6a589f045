"""squawk at the edges a CI run meets: a squawk that says nothing but fails, SQL it cannot
parse, undo steps dropping what their step made, the user's `.squawk.toml`, a timeout
that is no number, one hung squawk for many plans; and validate's CI outputs and `--dsn`
when the server ends idle transactions or the connection goes away."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lint.squawking import (
    PLAN,
    script,
    squawk_as_installed,  # noqa: F401  (autouse)
)


def _plan(steps: str) -> str:
    return f"""\
plan: edges
phases: [before, after]
transitions:
  - name: go
    from: before
    to: after
    steps:
{steps}
    post_checks:
      - {{query: select 1, expect: 1}}
"""


def _json(migrator: Any, *args: str | Path) -> list[dict[str, Any]]:
    result = migrator("validate", "--output", "json", *args)
    assert result.code == 0, result.out + result.err
    found: list[dict[str, Any]] = json.loads(result.out)["problems"]
    return found


def test_a_squawk_that_fails_without_a_word_is_a_warning(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # squawk exits 1 both when it found something and on a configuration error
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(script(tmp_path, "import sys; sys.exit(1)")))
    found = _json(migrator, write_plan(PLAN))
    assert [p["message"] for p in found if p["message"].startswith("squawk failed")] == [
        "squawk failed (exit 1): it ended in error"
    ]


def test_sql_squawk_cannot_parse_names_its_step(migrator: Any, write_plan: Any) -> None:
    plan = _plan(
        "      - name: typo\n        sql: selec 1 frm x\n        rollback: {sql: select 1}\n"
        "      - name: widen\n        sql: alter table t add column c int\n"
        "        rollback: {sql: select 1}\n"
    )
    found = _json(migrator, write_plan(plan))
    said = [p["message"] for p in found if "could not parse" in p["message"]]
    assert said == [
        "squawk could not parse the SQL of step 'typo' (PostgreSQL will judge it): squawk's "
        "rules did not run on this plan's SQL"
    ]


def test_an_undo_dropping_what_its_step_made_is_no_client_breaking_drop(
    migrator: Any, write_plan: Any
) -> None:
    plan = _plan(
        "      - name: a view\n        sql: create view v as select 1 as one\n"
        "        rollback: {sql: drop view v}\n"
        "      - name: a column\n        sql: alter table t add column c text\n"
        "        rollback: {sql: alter table t drop column c}\n"
        "      - name: the old view\n        sql: drop view old_v\n"
        "        rollback: {sql: create view old_v as select 1 as one}\n"
    )
    found = _json(migrator, write_plan(plan))
    drops = {(p["rule"], p["path"]) for p in found if str(p.get("rule", "")).startswith("ban-drop")}
    # squawk's ban-drop-view at the forward drop only; its ban-drop-column is migrator's
    # rule too, which knows the undo drops what its own step added
    assert drops == {("ban-drop-view", "transitions[0].steps[2].sql")}


def test_the_users_squawk_toml_exclusions_hold(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = write_plan(
        _plan("      - sql: alter table t add column c int\n        rollback: {sql: select 1}\n")
    )
    monkeypatch.chdir(tmp_path)
    assert "prefer-bigint-over-int" in {p.get("rule") for p in _json(migrator, plan)}
    (tmp_path / ".squawk.toml").write_text('excluded_rules = ["prefer-bigint-over-int"]\n')
    assert "prefer-bigint-over-int" not in {p.get("rule") for p in _json(migrator, plan)}


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-1", "soon"])
def test_a_timeout_that_is_no_number_of_seconds_is_a_warning(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MIGRATOR_SQUAWK_TIMEOUT", value)
    found = _json(migrator, write_plan(PLAN))
    assert [p["message"] for p in found if "MIGRATOR_SQUAWK_TIMEOUT" in p["message"]] == [
        "MIGRATOR_SQUAWK_TIMEOUT is not a number of seconds from 0 to 3600; "
        "squawk's rules were not run"
    ]


def test_a_hung_squawk_is_waited_for_once_for_many_plans(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    body = f"open({str(calls)!r}, 'a').write('call\\n')\nimport time\nwhile True: time.sleep(1)"
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(script(tmp_path, body)))
    monkeypatch.setenv("MIGRATOR_SQUAWK_TIMEOUT", "0.5")
    first, second = write_plan(PLAN, name="one.yaml"), write_plan(PLAN, name="two.yaml")
    result = migrator("validate", first, second)
    assert result.code == 0
    assert calls.read_text() == "call\n"
    hung = [line for line in result.out.splitlines() if "longer than 0.5 s" in line]
    assert [line.split(":")[0] for line in hung] == [str(first), str(second)]


def test_a_file_name_cannot_start_a_github_command(
    migrator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "x\n::notice::injected"
    folder.mkdir()
    plan = folder / "a.yaml"
    plan.write_text(_plan("      - sql: update t set a = 1\n        rollback: {sql: select 1}\n"))
    result = migrator("validate", "--output", "github", "--no-squawk", plan)
    assert result.code == 0
    assert [line for line in result.out.splitlines() if line.startswith("::notice")] == []
    assert any(line.startswith("::warning ") for line in result.out.splitlines())


def test_a_gitlab_fingerprint_stays_when_a_step_comes_before(
    migrator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    whole = "      - sql: update t set a = 1\n        rollback: {sql: select 1}\n"
    other = "      - sql: select 2\n        rollback: {sql: select 1}\n"
    prints = []
    for steps in (whole, other + whole):
        Path("p.yaml").write_text(_plan(steps))
        result = migrator("validate", "--output", "gitlab", "--no-squawk", "./p.yaml")
        (issue,) = [i for i in json.loads(result.out) if i["check_name"] == "whole-table-write"]
        assert issue["location"]["path"] == "p.yaml"
        prints.append(issue["fingerprint"])
    assert prints[0] == prints[1]


def test_validate_dsn_outlasts_a_server_that_ends_idle_transactions(
    migrator: Any, write_plan: Any, sql: Any, database: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    sql("create table events (id bigint, kind_id int)")
    ((name,),) = sql("select current_database()")
    sql(f'alter database "{name}" set idle_in_transaction_session_timeout = 200')
    real = _squawk()
    slow = f"import os, sys, time; time.sleep(1); os.execv({real!r}, [{real!r}, *sys.argv[1:]])"
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(script(tmp_path, slow)))
    found = _json(migrator, "--dsn", database, write_plan(_backfill_plan()))
    assert "backfill-key-not-unique" in {p.get("rule") for p in found}


def test_a_connection_lost_under_validate_dsn_exits_5(
    migrator: Any, write_plan: Any, sql: Any, database: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    sql("create table events (id bigint, kind_id int)")
    # a squawk that ends every other session of the database first, as a failover would
    killer = (
        "import os, psycopg\n"
        "with psycopg.connect(os.environ['EDGES_TARGET'], autocommit=True) as c:\n"
        "    c.execute('select pg_terminate_backend(pid) from pg_stat_activity where "
        "datname = current_database() and pid <> pg_backend_pid()')\n"
        "print('[]')"
    )
    monkeypatch.setenv("EDGES_TARGET", database)  # in the environment, not in a file
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(script(tmp_path, killer)))
    result = migrator("validate", "--dsn", database, write_plan(_backfill_plan()))
    assert result.code == 5, result.out + result.err
    assert "the connection was lost" in result.err
    assert "internal error" not in result.out + result.err


def test_an_empty_dsn_is_refused(migrator: Any, write_plan: Any) -> None:
    result = migrator("validate", "--dsn", "", write_plan(PLAN))
    assert result.code == 2
    assert "--dsn is empty" in result.err


def _squawk() -> str:
    import shutil

    found = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    assert os.access(found, os.X_OK)
    return found


def _backfill_plan() -> str:
    return _plan(
        "      - name: copy\n        backfill:\n          table: events\n          key: id\n"
        "          statement: update events set kind_id = 1 where id > :lo and id <= :hi\n"
        "        rollback: {sql: select 1}\n"
    )


def test_a_backfill_condition_is_no_statement_for_squawk(migrator: Any, write_plan: Any) -> None:
    plan = _backfill_plan().replace(
        "          key: id\n", "          key: id\n          where: kind_id is null\n"
    )
    found = _json(migrator, write_plan(plan))
    assert [p["message"] for p in found if "could not parse" in p["message"]] == []
