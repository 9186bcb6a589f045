"""Settling a run whose process died, or whose rollback failed: the bugs the matrix found,
each shown on its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.gates import run_held_at
from tests.plans import phased, traced
from tests.processes import sigkill

PLAN = phased(
    "small",
    [
        traced("one"),
        traced("two", undo_also="insert into needed values (1)"),
        traced("three"),
    ],
    post_checks=["{query: select count(*) from ran, expect: 3}"],
)


@pytest.fixture
def plan(write_plan: Any, sql: Any) -> Path:
    sql("create table ran (step text); create table undone (step text)")
    sql("create table needed (n int)")
    return write_plan(PLAN)  # type: ignore[no-any-return]


def states(sql: Any, run_id: int) -> list[str]:
    rows = sql(
        "select status from migrator.events where run_id = %s and kind = 'state' order by id",
        run_id,
    )
    return [r[0] for r in rows]


def killed_at(database: str, *command: Any, **match: Any) -> None:
    """Run `command` as a process; SIGKILL it when it writes the event `match`."""
    with run_held_at(database, command, **match) as (proc, gate):
        sigkill(proc)
        gate.open()


def test_rollback_of_a_killed_run_records_that_it_was_interrupted(
    plan: Path, database: str, migrator: Any, sql: Any
) -> None:
    killed_at(database, "apply", plan, "--to", "b", kind="step", status="done", step="two")
    result = migrator("rollback", plan)
    assert result.code == 0, result.out + result.err
    assert states(sql, 1) == ["prechecking", "applying", "interrupted", "undoing", "undone"]
    reason = sql(
        "select detail->>'reason' from migrator.events where kind = 'state' "
        "and status = 'interrupted'"
    )
    assert reason == [
        (
            "its process ended (killed, or the database went away) before the run finished, "
            "while step two ran",
        )
    ]
    assert sql("select step from undone") == [("one",)]


def test_resume_of_a_killed_undo_records_that_it_was_interrupted(
    plan: Path, database: str, migrator: Any, sql: Any
) -> None:
    # a post-check fails; the automatic undo is killed while it undoes step two
    Path(plan).write_text(Path(plan).read_text().replace("expect: 3", "expect: 4"))
    killed_at(database, "apply", plan, "--to", "b", kind="undo", status="done", step="two")
    assert json.loads(migrator("status", plan, "--output", "json").out)["open_run"]["state"] == (
        "interrupted"
    )
    result = migrator("resume", plan)
    assert result.code == 0, result.out + result.err
    assert states(sql, 1)[-5:] == ["verifying", "undoing", "interrupted", "undoing", "undone"]
    assert sorted(sql("select step from undone")) == [("one",), ("three",), ("two",)]


def test_rollback_of_an_interrupted_rollback_finishes_it(
    plan: Path, database: str, migrator: Any, sql: Any
) -> None:
    assert migrator("apply", plan, "--to", "b").code == 0
    killed_at(database, "rollback", plan, kind="step", status="done", step="undo two")
    result = migrator("rollback", plan)
    assert result.code == 0, result.out + result.err
    assert "finishing it" in result.out
    assert sorted(sql("select step from undone")) == [("one",), ("three",), ("two",)]
    status = json.loads(migrator("status", plan, "--output", "json").out)
    assert (status["phase"], status["open_run"]) == ("a", None)
    assert states(sql, 2) == [
        "prechecking",
        "applying",
        "interrupted",
        "prechecking",
        "applying",
        "verifying",
        "succeeded",
    ]


def test_a_rollback_whose_undo_failed_is_finished_by_resume_once_the_cause_is_fixed(
    plan: Path, migrator: Any, sql: Any
) -> None:
    assert migrator("apply", plan, "--to", "b").code == 0
    sql("drop table needed")  # the undo of step two now fails
    failed = migrator("rollback", plan)
    assert failed.code == 3
    assert json.loads(migrator("status", plan, "--output", "json").out)["open_run"]["state"] == (
        "undo_failed"
    )
    assert migrator("apply", plan, "--to", "b").code == 3  # the plan is blocked
    sql("create table needed (n int)")
    result = migrator("resume", plan)
    assert result.code == 0, result.out + result.err
    assert sorted(sql("select step from undone")) == [("one",), ("three",), ("two",)]
    assert sql("select step, count(*) from undone group by step having count(*) > 1") == []
    status = json.loads(migrator("status", plan, "--output", "json").out)
    assert (status["phase"], status["open_run"]) == ("a", None)
    assert states(sql, 2)[-1] == "succeeded"
