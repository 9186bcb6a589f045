"""Operator controls that fit: `pause` and `continue` refuse a plan with no live backfill,
`status` only reads who holds the lock, and `unlock` takes the plan back from a frozen
process, recording its run interrupted for `resume`."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.faults.gates import run_held_at
from tests.plans import FOUR_STEPS
from tests.processes import spawn

pytestmark = pytest.mark.usefixtures("traced")  # tables `ran` and `undone`


def _controls(sql: Any) -> list[Any]:
    if sql("select to_regclass('migrator.controls')") == [(None,)]:
        return []
    return sql("select plan, paused from migrator.controls")


def test_pause_and_continue_refuse_a_plan_with_nothing_running(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    plan = write_plan(FOUR_STEPS)
    for command in ("pause", "continue"):
        result = migrator(command, plan)
        assert result.code == 2, result.out + result.err
        assert "has no backfill running (no run of it is live)" in result.err
    assert _controls(sql) == []  # nothing held for the next apply
    assert migrator("apply", plan, "--to", "b").code == 0  # which is not held


@pytest.fixture
def reader(database: str, sql: Any) -> Iterator[str]:
    """The DSN of a role that may read schema `migrator` but not try an advisory lock
    (revoked in this database only): a command run with it that tried the plan's lock
    fails."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    sql(f"create role {role} login")
    sql("revoke execute on function pg_try_advisory_lock(bigint) from public")
    try:
        yield make_conninfo(database, user=role)
    finally:
        sql(f"drop owned by {role}")
        sql(f"drop role {role}")


def test_status_reads_the_holder_without_trying_the_lock(
    database: str, sql: Any, write_plan: Any, migrator: Any, reader: str
) -> None:
    plan = write_plan(FOUR_STEPS)
    argv = ("apply", plan, "--to", "b")
    with run_held_at(database, argv, kind="step", status="started", step="two") as (proc, gate):
        sql("grant usage on schema migrator to public")
        sql("grant select on all tables in schema migrator to public")
        shown = migrator("status", plan, "--output", "json", "--dsn", reader, dsn=False)
        assert shown.code == 0, shown.out + shown.err
        doc = json.loads(shown.out)
        assert doc["lock"]["held"] is True
        assert doc["lock"]["holder"]["run_id"] == 1
        assert doc["open_run"]["state"] == "running"
        # a live run with no backfill: nothing to pause
        refused = migrator("pause", plan)
        assert refused.code == 2
        assert "run 1 (go) has no backfill left to run" in refused.err
        gate.open()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    doc = json.loads(migrator("status", plan, "--output", "json", "--dsn", reader, dsn=False).out)
    assert doc["lock"] == {"held": False, "holder": None}


def test_unlock_ends_a_frozen_holder_and_resume_finishes_its_run_once(
    database: str, sql: Any, write_plan: Any, migrator: Any
) -> None:
    plan = write_plan(FOUR_STEPS)
    argv = ("apply", plan, "--to", "b")
    # held inside step two: its work done, not committed
    with run_held_at(database, argv, kind="step", status="done", step="two") as (proc, gate):
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            blocked = spawn("apply", plan, "--to", "b", "--dsn", database)
            out, err = blocked.communicate(timeout=60)
            assert blocked.returncode == 4, out + err  # the frozen process holds the plan

            unasked = migrator("unlock", plan, "--run", "1")  # no terminal, no --yes
            assert unasked.code == 2
            assert "needs --yes or a terminal; nothing was done" in unasked.err
            wrong = migrator("unlock", plan, "--run", "7", "--yes")
            assert wrong.code == 2
            assert "has no run 7" in wrong.err
            assert sql("select status from migrator.runs") == [("applying",)]

            unlocked = migrator("unlock", plan, "--run", "1", "--yes", "--operator", "ops-lead")
            assert unlocked.code == 0, unlocked.out + unlocked.err
            assert "run 1 of plan four is interrupted" in unlocked.out
            assert sql("select status from migrator.runs") == [("interrupted",)]
            assert sql(
                "select detail->>'operator' from migrator.events where kind = 'lock' "
                "and status = 'unlocked'"
            ) == [("ops-lead",)]
            reason = sql(
                "select detail->>'reason' from migrator.events where kind = 'state' "
                "and status = 'interrupted'"
            )
            assert "unlocked by ops-lead" in str(reason)

            gate.open()
            resumed = migrator("resume", plan)
            assert resumed.code == 0, resumed.out + resumed.err
            assert sql("select step, count(*) from ran group by step order by min(at)") == [
                ("one", 1),
                ("two", 1),
                ("three", 1),
                ("four", 1),
            ]
            assert sql("select status from migrator.runs") == [("succeeded",)]
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        # woken, the frozen process finds its run taken over: it runs nothing more
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, out + err
    assert "run 1 of plan four was taken over by" in err
    assert sql("select step, count(*) from ran group by step order by min(at)") == [
        ("one", 1),
        ("two", 1),
        ("three", 1),
        ("four", 1),
    ]
    assert sql("select kind, status from migrator.events order by id desc limit 1") == [
        ("state", "succeeded")
    ]


def test_unlock_refuses_a_run_that_is_not_live(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    plan = write_plan(FOUR_STEPS)
    assert migrator("apply", plan, "--to", "b").code == 0
    result = migrator("unlock", plan, "--run", "1", "--yes")
    assert result.code == 2
    assert "run 1 of plan four is succeeded, not live" in result.err
    with psycopg.connect(database) as conn:
        assert conn.execute(
            "select count(*) from migrator.events where kind = 'lock'"
        ).fetchone() == (0,)
