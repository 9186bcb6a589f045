"""The `notify` plugin when a run stops short: a real `migrator apply` given SIGINT while a
step waits at a gate (told `interrupted`, with what settles it), a resume (told it
started again, not the old interruption), and a run whose command ends before the run
does (its lock taken: exit 4), told `interrupted` when the command ends."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests import plans
from tests.faults.gates import Gate, run_held_at
from tests.httpserver import Server, running
from tests.processes import sigkill, wait_for
from tests.signals import FIRST_SIGNAL_HANDLED, finish, wait_for_line

THREE = plans.phased("three", [plans.traced("one"), plans.traced("two"), plans.traced("three")])
HELD = plans.phased("held", [plans.traced("first"), plans.traced("second")])


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch, sql: Any) -> Iterator[Server]:
    sql(plans.TRACE_TABLES)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("MIGRATOR_NOTIFY_URL", raising=False)
    with running() as server:
        server.route("/hook/T0K3N-secret")
        yield server


def receivers(server: Server) -> str:
    return f"notify:\n  - url: {server.url}/hook/T0K3N-secret\n"


def told(server: Server) -> list[dict[str, Any]]:
    return [r.json() for r in server.requests_to("/hook/T0K3N-secret")]


def test_a_run_stopped_by_sigint_is_told_interrupted_and_its_resume_started(
    receiver: Server, database: str, write_plan: Any, migrator: Any
) -> None:
    plan = write_plan(THREE + receivers(receiver))
    seen: list[str] = []
    argv = ["apply", plan, "--to", "b"]
    env = {"NO_PROXY": "127.0.0.1"}
    with run_held_at(database, argv, env, kind="step", status="done", step="two") as (proc, gate):
        os.kill(proc.pid, signal.SIGINT)
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        gate.open()
        exit_code, out, err = finish(proc, seen)
    assert exit_code == 130, out + err
    assert "T0K3N" not in out + err
    events = told(receiver)
    assert [e["event"] for e in events] == ["run_started", "interrupted"]
    stopped = events[-1]
    assert stopped["outcome"] == "interrupted" and "before step three" in stopped["reason"]
    assert f"migrator resume {plan}" in stopped["settle"]
    assert f"migrator rollback {plan}" in stopped["settle"]
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    again = told(receiver)[2:]
    assert [(e["event"], e["outcome"], e["command"]) for e in again] == [
        ("run_started", "resumed", "resume"),
        ("run_succeeded", "succeeded", "resume"),
    ]


def test_a_resume_after_a_kill_is_told_it_started_again_not_the_old_interruption(
    receiver: Server, database: str, write_plan: Any, migrator: Any
) -> None:
    plan = write_plan(THREE + receivers(receiver))
    argv = ["apply", plan, "--to", "b"]
    env = {"NO_PROXY": "127.0.0.1"}
    with run_held_at(database, argv, env, kind="step", status="done", step="two") as (proc, _):
        wait_for(lambda: len(told(receiver)) == 1, proc=proc)
        sigkill(proc)  # nothing more can be told: the process is gone
    assert [e["event"] for e in told(receiver)] == ["run_started"]
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert [(e["event"], e["outcome"]) for e in told(receiver)[1:]] == [
        ("run_started", "resumed"),
        ("run_succeeded", "succeeded"),
    ]


def test_a_run_whose_command_ends_first_is_told_interrupted_at_the_commands_end(
    receiver: Server, database: str, write_plan: Any, migrator: Any, sql: Any
) -> None:
    plan = write_plan(HELD + receivers(receiver))
    with lock_taken_during_first(database, sql):
        result = migrator("apply", plan, "--to", "b")
    assert result.code == 4
    events = told(receiver)
    assert [e["event"] for e in events] == ["run_started", "interrupted"]
    assert events[-1]["exit_code"] == 4 and "lost its lock" in events[-1]["reason"]
    assert events[-1]["run_id"] == events[0]["run_id"]
    assert events[-1]["settle"] == (
        f"`migrator resume {plan}` continues it, `migrator rollback {plan}` undoes what it did"
    )


@contextmanager
def lock_taken_during_first(database: str, sql: Any) -> Iterator[None]:
    """While the body runs plan `held`: hold step `first` at a gate, end the session of the
    plan's lock from the server, take the lock, then let `first` go on: the run finds its
    lock taken before `second` (exit 4), its run left as it was."""
    from migrator.engine.locks import lock_key

    gate = Gate(database)
    gate.at_row("events", kind="step", status="done", step="first")
    finished = threading.Event()

    def work() -> None:
        wait_for(lambda: gate.reached_row() is not None)
        pid = sql("select backend_pid from migrator.locks where plan = 'held'")[0][0]
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("select pg_terminate_backend(%s)", (pid,))
            wait_for(lambda: sql("select count(*) from pg_locks where pid = %s", pid) == [(0,)])
            conn.execute("select pg_advisory_lock(%s)", (lock_key("held"),))
            gate.open()
            finished.wait()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield
    finally:
        finished.set()
        thread.join()
        gate.close()
