"""Honest rollback: a step that cannot be undone stops a rollback unless --force, which
records it not undone; a reverse transition's approval is asked; `rollback --dry-run`
shows each undo with its SQL and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.gates import run_held_at
from tests.helpers import fingerprint
from tests.plans import hotfix, phased, traced
from tests.processes import sigkill

DROPS = hotfix(
    "drops",
    [
        traced("one"),
        "name: drop legacy column\nsql: alter table legacy drop column old\nrollback: irreversible",
        traced("three"),
    ],
)

pytestmark = pytest.mark.usefixtures("traced")  # tables `ran` and `undone`


def _phase(sql: Any, plan: str) -> str:
    return str(sql("select phase from migrator.plan_state where plan = %s", plan)[0][0])


def _applied(migrator: Any, sql: Any, write_plan: Any, text: str = DROPS) -> Path:
    sql("create table legacy (id int, old text); insert into legacy values (1, 'x')")
    plan = write_plan(text)
    assert migrator("apply", plan).code == 0
    return Path(plan)


def _columns(sql: Any) -> list[Any]:
    return [
        r[0]
        for r in sql(
            "select column_name from information_schema.columns where table_name = 'legacy' "
            "order by ordinal_position"
        )
    ]


def test_rollback_refuses_to_pass_an_irreversible_step_and_changes_nothing(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    plan = _applied(migrator, sql, write_plan)
    before = fingerprint(database)
    result = migrator("rollback", plan)
    assert result.code == 2, result.out + result.err
    assert "'drop legacy column'" in result.err
    assert "irreversible" in result.err and "--force" in result.err
    assert fingerprint(database) == before
    assert _phase(sql, "drops") == "applied"


def test_rollback_force_goes_on_and_records_the_step_not_undone(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    plan = _applied(migrator, sql, write_plan)
    result = migrator("rollback", plan, "--force")
    assert result.code == 0, result.out + result.err
    assert "undo drop legacy column (undo:sql): not_undone" in result.out
    assert _phase(sql, "drops") == "pending"
    assert sql("select step from undone") == [("three",), ("one",)]
    assert _columns(sql) == ["id"]  # what was dropped stays dropped, and the trail says so
    events = sql(
        "select e.status, e.step, e.detail->>'operator' from migrator.events e "
        "join migrator.runs r on r.id = e.run_id where r.transition = 'rollback' "
        "and e.kind = 'step' and e.status <> 'started' order by e.id"
    )
    assert [(s, step) for s, step, _ in events] == [
        ("done", "undo three"),
        ("not_undone", "undo drop legacy column"),
        ("done", "undo one"),
    ]
    assert events[1][2]  # who forced it is recorded


def test_rollback_dry_run_shows_each_undo_with_its_sql_and_changes_nothing(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    plan = _applied(migrator, sql, write_plan)
    before = fingerprint(database)
    result = migrator("rollback", plan, "--dry-run")
    assert result.code == 0, result.out + result.err
    out = result.out
    assert "insert into undone values ('three')" in out
    assert "insert into undone values ('one')" in out
    assert out.index("undo three") < out.index("undo drop legacy column") < out.index("undo one")
    assert "undo drop legacy column: CANNOT BE UNDONE" in out
    assert fingerprint(database) == before
    document = json.loads(migrator("rollback", plan, "--dry-run", "--output", "json").out)
    assert document["irreversible"] == ["drop legacy column"]
    assert [s["describe"] for s in document["steps"]] == [
        "insert into undone values ('three')",
        None,
        "insert into undone values ('one')",
    ]
    assert fingerprint(database) == before


def test_rollback_dry_run_on_a_database_never_used_creates_nothing(
    migrator: Any, write_plan: Any, database: str
) -> None:
    plan = write_plan(DROPS)
    before = fingerprint(database)
    result = migrator("rollback", plan, "--dry-run")
    assert result.code == 0, result.out + result.err
    assert "nothing to roll back" in result.out
    assert fingerprint(database) == before


BACK_WITH_APPROVAL = phased("gated", [traced("one")]) + (
    "  - name: back\n"
    "    from: b\n"
    "    to: a\n"
    "    approval: true\n"
    "    steps:\n"
    "      - {name: unmark, sql: \"insert into undone values ('back')\"}\n"
)


def test_a_reverse_transitions_approval_is_asked_like_apply_asks_it(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    plan = write_plan(BACK_WITH_APPROVAL)
    assert migrator("apply", plan, "--to", "b").code == 0
    refused = migrator("rollback", plan)  # no terminal, no --yes: not approved
    assert refused.code == 1, refused.out + refused.err
    assert "approval was not given" in refused.out
    assert sql("select count(*) from undone") == [(0,)]
    assert _phase(sql, "gated") == "b"
    approved = migrator("rollback", plan, "--yes")
    assert approved.code == 0, approved.out + approved.err
    assert sql("select step from undone") == [("back",)]
    assert _phase(sql, "gated") == "a"
    assert sql(
        "select e.detail->>'via' from migrator.events e join migrator.runs r "
        "on r.id = e.run_id where r.transition = 'back' and e.kind = 'approval' "
        "and e.status = 'approved'"
    ) == [("--yes",)]


def test_a_hotfix_that_needs_approval_needs_it_to_be_rolled_back(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    text = hotfix("gated-fix", [traced("one")]).replace(
        "kind: hotfix", "kind: hotfix\napproval: true"
    )
    plan = write_plan(text)
    assert migrator("apply", plan, "--yes").code == 0
    assert migrator("rollback", plan).code == 1
    assert sql("select count(*) from undone") == [(0,)]
    assert migrator("rollback", plan, "--yes").code == 0
    assert sql("select step from undone") == [("one",)]


def test_apply_back_to_pending_refuses_to_pass_an_irreversible_step_too(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    plan = _applied(migrator, sql, write_plan)
    before = fingerprint(database)
    result = migrator("apply", plan, "--to", "pending")
    assert result.code == 2, result.out + result.err
    assert "'drop legacy column'" in result.err
    assert fingerprint(database) == before


def test_undoing_an_interrupted_run_refuses_to_pass_an_irreversible_step(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table legacy (id int, old text)")
    plan = write_plan(DROPS)
    # killed before its third step: the irreversible second one is done
    with run_held_at(database, ("apply", plan), kind="step", status="started", step="three") as (
        proc,
        _,
    ):
        sigkill(proc)
    assert sql("select status from migrator.runs") == [("applying",)]
    before = fingerprint(database)
    preview = migrator("rollback", plan, "--dry-run", "--output", "json")
    assert json.loads(preview.out)["irreversible"] == ["drop legacy column"]
    refused = migrator("rollback", plan)
    assert refused.code == 2, refused.out + refused.err
    assert "'drop legacy column'" in refused.err
    assert fingerprint(database) == before
    forced = migrator("rollback", plan, "--force")
    assert forced.code == 0, forced.out + forced.err
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select status, step from migrator.events where kind = 'undo' order by id") == [
        ("not_undone", "drop legacy column"),
        ("done", "one"),
    ]
    assert sql("select step from undone") == [("one",)]


KILLED_INSIDE = hotfix(
    "drops",
    [
        traced("one"),
        "name: drop legacy column\n"
        "autocommit: true\n"
        "lock_timeout: 1h\n"
        "rollback: irreversible\n"
        "sql: alter table legacy drop column old; select pg_advisory_lock(4242)",
    ],
)


def test_a_run_killed_inside_an_irreversible_step_outside_a_transaction_is_not_rolled_back_past_it(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    """Killed while an autocommit step ran: its column is gone though no `done` was
    written, so the rollback counts the step as passed and refuses without --force."""
    import psycopg

    from tests.processes import spawn, wait_for

    sql("create table legacy (id int, old text)")
    plan = write_plan(KILLED_INSIDE)
    with psycopg.connect(database, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(4242)")
        proc = spawn("apply", plan, "--dsn", database)
        try:
            waiting = "select 1 from pg_locks where locktype = 'advisory' and objid = 4242 "
            wait_for(lambda: bool(sql(waiting + "and not granted")), proc=proc)
        finally:
            sigkill(proc)
    assert _columns(sql) == ["id"]  # what the step did before it was killed stays
    assert sql("select status from migrator.runs") == [("applying",)]
    before = fingerprint(database)
    preview = migrator("rollback", plan, "--dry-run", "--output", "json")
    assert json.loads(preview.out)["irreversible"] == ["drop legacy column"]
    refused = migrator("rollback", plan)
    assert refused.code == 2, refused.out + refused.err
    assert "'drop legacy column'" in refused.err
    assert fingerprint(database) == before
    forced = migrator("rollback", plan, "--force")
    assert forced.code == 0, forced.out + forced.err
    assert sql("select status, step from migrator.events where kind = 'undo' order by id") == [
        ("not_undone", "drop legacy column"),
        ("done", "one"),
    ]


FAILS_AFTER_DROP = hotfix(
    "drops",
    [
        traced("one"),
        "name: drop legacy column\nsql: alter table legacy drop column old\nrollback: irreversible",
        traced("three"),
    ],
    post_checks=["name: never\nquery: select 1\nexpect: 2"],
)


def test_an_automatic_undo_that_passes_an_irreversible_step_is_not_exit_1(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    """Exit 1 means undone, always: a failed check whose undo cannot take back a step
    marked irreversible ends undo_failed (exit 3), settled by `rollback --force`."""
    sql("create table legacy (id int, old text); insert into legacy values (1, 'x')")
    plan = write_plan(FAILS_AFTER_DROP)
    result = migrator("apply", plan)
    assert result.code == 3, result.out + result.err
    assert "drop legacy column" in result.out + result.err
    assert "rollback --force" in result.out + result.err
    assert sql("select status from migrator.runs") == [("undo_failed",)]
    assert sql("select step from undone order by step") == [("one",), ("three",)]
    assert sql(
        "select step from migrator.events where kind = 'undo' and status = 'not_undone'"
    ) == [("drop legacy column",)]
    assert _columns(sql) == ["id"]  # the column is still gone: nothing pretends otherwise
    assert migrator("apply", plan).code == 3  # blocked until settled
    refused = migrator("rollback", plan)
    assert refused.code == 2, refused.out + refused.err
    forced = migrator("rollback", plan, "--force")
    assert forced.code == 0, forced.out + forced.err
    assert sql("select phase from migrator.plan_state") == []  # never left `pending`
    assert sql("select status from migrator.runs") == [("undone",)]


THREE_PHASES = """\
plan: three
phases: [a, b, c]
transitions:
  - name: ab
    from: a
    to: b
    steps:
      - {name: make, sql: "insert into ran values ('make')",
         rollback: {sql: "insert into undone values ('make')"}}
    post_checks:
      - {name: never, query: select 1, expect: 2}
  - name: bc
    from: b
    to: c
    steps:
      - {name: next, sql: "insert into ran values ('next')"}
"""


def test_apply_that_finishes_an_interrupted_undo_does_not_go_on_as_if_it_had_moved(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    """ab's check failed and its undo was cut short; `apply --to c` again finishes that
    undo and stops there: exit 1, the plan still in a, bc never run."""
    plan = write_plan(THREE_PHASES)
    argv = ("apply", plan, "--to", "c")
    with run_held_at(database, argv, kind="undo", status="done", step="make") as (proc, _):
        sigkill(proc)  # the undo's transaction dies with the process
    again = migrator(*argv)
    assert again.code == 1, again.out + again.err
    assert "ended undone" in again.out + again.err
    assert sql("select phase from migrator.plan_state") == []  # never left `a`
    assert sql("select step from ran order by step") == [("make",)]
    assert sql("select step from undone") == [("make",)]
    assert sql("select transition, status from migrator.runs order by id") == [("ab", "undone")]
