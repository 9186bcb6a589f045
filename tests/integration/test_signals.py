"""SIGINT and SIGTERM stop a real `migrator apply` at a safe point: after a SQL step, at a
manual step's question, between two undos, in a check's wait. The run is left interrupted
with the step under way, the message names it and the commands that settle it, the exit
code is 130 or 143, and `migrator resume` then finishes the run with each step's effect
once (after checking the environment first). A second signal stops at once, the statement
in flight rolled back, and is still recorded. (The other kinds of step:
test_signals_steps.py.)"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import plans
from tests.faults.gates import run_held_at
from tests.processes import sigkill, spawn, step_started, wait_for
from tests.signals import (
    FIRST_SIGNAL_HANDLED,
    SIGNALS,
    finish,
    interrupted_event,
    run_status,
    wait_for_line,
)

THREE = plans.phased("three", [plans.traced("one"), plans.traced("two"), plans.traced("three")])


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_in_a_sql_step_lets_it_commit_then_stops_before_the_next(
    signum: int, code: int, database: str, write_plan: Any, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(THREE)
    seen: list[str] = []
    argv = ["apply", plan, "--to", "b"]
    with run_held_at(database, argv, kind="step", status="done", step="two") as (proc, gate):
        os.kill(proc.pid, signum)  # step two has done its work, not yet committed
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        gate.open()
        exit_code, out, err = finish(proc, seen)
    assert exit_code == code, out + err
    assert sql("select step from ran order by at") == [("one",), ("two",)]  # two committed
    assert run_status(sql) == [(1, "interrupted")]
    step, was, reason = interrupted_event(sql)
    assert (step, was) == (None, "applying")  # between two steps: none was under way
    assert "before step three" in str(reason)
    assert "run 1 (go) of plan three is left interrupted (stopped before step three)" in err
    assert f"`migrator resume {plan}`" in err and f"`migrator rollback {plan}`" in err
    assert "Traceback" not in err
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert sql("select step from ran order by at") == [("one",), ("two",), ("three",)]
    assert run_status(sql) == [(1, "succeeded")]


def test_a_second_sigint_stops_at_once_rolls_the_step_back_and_is_recorded(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(THREE)
    seen: list[str] = []
    argv = ["apply", plan, "--to", "b"]
    with run_held_at(database, argv, kind="step", status="done", step="two") as (proc, _gate):
        os.kill(proc.pid, signal.SIGINT)
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        os.kill(proc.pid, signal.SIGINT)  # the gate stays shut: only "at once" ends this
        exit_code, out, err = finish(proc, seen)
    assert exit_code == 130, out + err
    assert sql("select step from ran order by at") == [("one",)]  # step two rolled back
    assert run_status(sql) == [(1, "interrupted")]
    step, was, reason = interrupted_event(sql)
    assert (step, was) == ("step two", "applying")
    assert "stopped at once, while step two ran" in str(reason)
    assert "stopped at once, while step two ran" in err and "migrator resume" in err
    assert "Traceback" not in err
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert sorted(sql("select step from ran")) == [("one",), ("three",), ("two",)]


MANUAL = plans.phased(
    "manual",
    [plans.traced("one"), "name: deploy\nmanual: deploy the edge function", plans.traced("two")],
)


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_at_a_manual_steps_question_stops_at_once(
    signum: int, code: int, database: str, write_plan: Any, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(MANUAL)
    leader, follower = pty.openpty()  # a terminal: the question is asked
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", "apply", str(plan), "--to", "b", "--dsn", database],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    os.close(follower)
    try:
        wait_for(step_started(sql, "deploy"), proc=proc)
        os.kill(proc.pid, signum)  # one signal is enough: nothing is in flight at a question
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            sigkill(proc)
        os.close(leader)
    assert proc.returncode == code, out + err
    assert run_status(sql) == [(1, "interrupted")]
    step, _was, _reason = interrupted_event(sql)
    assert step == "step deploy"
    assert "is left interrupted" in err and f"`migrator resume {plan}`" in err
    assert "Traceback" not in err
    resumed = migrator("resume", plan, "--yes")
    assert resumed.code == 0, resumed.out + resumed.err
    assert sorted(sql("select step from ran")) == [("one",), ("two",)]


def test_resume_after_a_signal_checks_the_environment_first(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TOKEN_FOR_TEST", "s3cr3t-value")
    plan = write_plan(
        plans.phased(
            "envy",
            [
                plans.traced("one"),
                plans.traced("two"),
                'name: three\ncommand: ["true", "${env:TOKEN_FOR_TEST}"]',
            ],
        )
    )
    seen: list[str] = []
    argv = ["apply", plan, "--to", "b"]
    with run_held_at(database, argv, kind="step", status="done", step="one") as (proc, gate):
        os.kill(proc.pid, signal.SIGINT)
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        gate.open()
        exit_code, out, err = finish(proc, seen)
    assert exit_code == 130, out + err
    monkeypatch.delenv("TOKEN_FOR_TEST")
    for command in ("resume", "apply"):
        refused = migrator(command, plan, *(["--to", "b"] if command == "apply" else []))
        assert refused.code == 2, refused.out + refused.err
        assert "environment variable TOKEN_FOR_TEST is not set" in refused.err
        assert sql("select step from ran") == [("one",)]  # nothing ran
        assert run_status(sql) == [(1, "interrupted")]


def test_apply_blocked_by_an_interrupted_run_of_another_transition_exits_2(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(THREE)
    seen: list[str] = []
    with run_held_at(
        database, ["apply", plan, "--to", "b"], kind="step", status="done", step="one"
    ) as (
        proc,
        gate,
    ):
        os.kill(proc.pid, signal.SIGTERM)
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        gate.open()
        assert finish(proc, seen)[0] == 143
    Path(plan).write_text(
        Path(plan).read_text().replace("phases: [a, b]", "phases: [a, b, c]")
        + "  - {name: sideways, from: a, to: c, steps: [{sql: select 1}]}\n"
    )
    refused = migrator("apply", plan, "--to", "c", "--force")
    assert refused.code == 2
    assert "run 1 (go) of plan three was interrupted" in refused.err
    assert f"`migrator resume {plan}`" in refused.err
    assert f"`migrator rollback {plan}`" in refused.err


FAILS_AT_THREE = plans.phased(
    "undoing",
    [plans.traced("one"), plans.traced("two"), "name: three\nsql: select 1/0"],
)


def test_a_signal_during_the_undo_stops_it_and_resume_finishes_it(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(FAILS_AT_THREE)
    seen: list[str] = []
    argv = ["apply", plan, "--to", "b"]
    with run_held_at(database, argv, kind="undo", status="done", step="two") as (proc, gate):
        os.kill(proc.pid, signal.SIGINT)  # the undo of two is done, not yet committed
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        gate.open()
        exit_code, out, err = finish(proc, seen)
    assert exit_code == 130, out + err
    assert sql("select step from undone") == [("two",)]
    assert run_status(sql) == [(1, "interrupted")]
    _step, was, reason = interrupted_event(sql)
    assert was == "undoing" and "before the undo of step one" in str(reason)
    assert f"`migrator resume {plan}` or `migrator rollback {plan}` finishes it" in err
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert sql("select step from undone order by at") == [("two",), ("one",)]  # each once
    assert sql("select step from ran where step = 'three'") == []  # not run forward again
    assert run_status(sql) == [(1, "undone")]


def test_a_signal_cuts_short_a_check_that_waits(
    database: str, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(
        plans.phased(
            "waits",
            [plans.traced("one")],
            pre_checks=["{query: select 0, expect: 1, wait: {timeout: 10m, interval: 5m}}"],
        )
    )
    proc = spawn("apply", plan, "--to", "b", "--dsn", database)
    try:
        wait_for(
            lambda: (
                sql("select to_regclass('migrator.runs') is not null") == [(True,)]
                and sql("select status from migrator.runs") == [("prechecking",)]
            ),
            proc=proc,
        )
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)  # not after the 5 minutes of the wait
    finally:
        sigkill(proc)
    assert proc.returncode == 143, out + err
    # the signal came in the check's wait (or just before it: the stop is then asked before)
    assert "stopped while a check waited to look again" in err or "before pre-check" in err
    assert run_status(sql) == [(1, "interrupted")]
    assert sql("select step from ran") == []


def test_a_stopped_run_still_gives_json_output_its_document(
    database: str, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(THREE)
    seen: list[str] = []
    argv = ["apply", plan, "--to", "b", "--output", "json"]
    with run_held_at(database, argv, kind="step", status="done", step="one") as (proc, gate):
        os.kill(proc.pid, signal.SIGTERM)
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        gate.open()
        exit_code, out, err = finish(proc, seen)
    assert exit_code == 143, out + err
    document = json.loads(out)
    assert (document["exit_code"], document["result"], document["phase"]) == (143, "sigterm", "a")
    assert "is left interrupted (stopped before step two)" in document["error"]
    assert [e["status"] for e in document["events"] if e["kind"] == "state"][-1] == "interrupted"
