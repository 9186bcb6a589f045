"""Fencing: a process cut off from its run while another process took the run over
(resumed, rolled back or unlocked it) runs nothing more, and stops with exit 4.

Real processes on the real server: process A is held inside step two at a gate, its
connections are ended, process B (`migrator resume`) finishes the run, then A goes on.
Table `ran` counts each step's effect: each must be there exactly once.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from migrator.db.target import application_name
from tests.faults.gates import run_held_at
from tests.plans import FOUR_STEPS

pytestmark = pytest.mark.usefixtures("traced")  # tables `ran` and `undone`

ONCE_EACH = [("one", 1), ("two", 1), ("three", 1), ("four", 1)]


def _ran(sql: Any) -> list[Any]:
    return sql("select step, count(*) from ran group by step order by min(at)")


def _end_sessions(sql: Any, where: str, *params: object) -> list[Any]:
    return sql(
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity "
        f"where pid <> pg_backend_pid() and {where}",
        *params,
    )


def test_a_process_cut_off_and_taken_over_runs_nothing_more(
    database: str, sql: Any, write_plan: Any, migrator: Any
) -> None:
    plan = write_plan(FOUR_STEPS)
    argv = ("apply", plan, "--to", "b")
    with run_held_at(database, argv, kind="step", status="done", step="two") as (proc, gate):
        os.kill(proc.pid, signal.SIGSTOP)  # A cannot notice anything until SIGCONT
        try:
            ended = _end_sessions(sql, "application_name = %s", application_name(proc.pid))
            assert len(ended) >= 2  # the lock's connection and the run's, at least
            gate.open()
            resumed = migrator("resume", plan, "--operator", "colleague")
            assert resumed.code == 0, resumed.out + resumed.err
            assert _ran(sql) == ONCE_EACH
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, out + err
    assert "run 1 of plan four was taken over by colleague on" in err
    assert "ran nothing more" in err
    assert _ran(sql) == ONCE_EACH
    assert sql("select status from migrator.runs") == [("succeeded",)]
    # the succeeded run's last record is B's: A wrote nothing after it
    assert sql("select kind, status from migrator.events order by id desc limit 1") == [
        ("state", "succeeded")
    ]
    assert sql("select count(*) from migrator.locks") == [(0,)]  # A let the lock go


def test_a_step_that_commits_after_its_run_was_taken_over_is_rolled_back(
    database: str, sql: Any, write_plan: Any, migrator: Any
) -> None:
    """Only A's lock connection is cut: A's step two is still open, its work done, at the
    gate; B resumes and finishes the run; then A's step two reaches its commit."""
    plan = write_plan(FOUR_STEPS)
    argv = ("apply", plan, "--to", "b")
    with run_held_at(database, argv, kind="step", status="done", step="two") as (proc, gate):
        gate.catch_no_more()  # B's step two goes through; A's waits on
        lock_session = sql("select backend_pid from migrator.locks where plan = 'four'")
        assert _end_sessions(sql, "pid = %s", lock_session[0][0]) == [(True,)]
        resumed = migrator("resume", plan, "--operator", "colleague")
        assert resumed.code == 0, resumed.out + resumed.err
        assert _ran(sql) == ONCE_EACH
        gate.open()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, out + err
    assert "run 1 of plan four was taken over by colleague on" in err
    assert _ran(sql) == ONCE_EACH  # A's step two was rolled back, not committed twice
    assert sql("select status from migrator.runs") == [("succeeded",)]
    done_two = sql(
        "select count(*) from migrator.events where kind = 'step' and status = 'done' "
        "and step = 'two'"
    )
    assert done_two == [(1,)]


def test_a_frozen_process_woken_after_a_rollback_runs_nothing_more(
    database: str, sql: Any, write_plan: Any, migrator: Any
) -> None:
    plan = write_plan(FOUR_STEPS)
    argv = ("apply", plan, "--to", "b")
    with run_held_at(database, argv, kind="step", status="started", step="three") as (
        proc,
        gate,
    ):
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            _end_sessions(sql, "application_name = %s", application_name(proc.pid))
            gate.open()
            rolled = migrator("rollback", plan, "--operator", "colleague")
            assert rolled.code == 0, rolled.out + rolled.err
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, out + err
    assert "taken over by colleague on" in err
    assert _ran(sql) == [("one", 1), ("two", 1)]
    assert sql("select step from undone order by at") == [("two",), ("one",)]
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select phase from migrator.plan_state") in ([], [("a",)])
