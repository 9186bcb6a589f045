"""SIGINT and SIGTERM stop a real `migrator apply` at a safe point: in a SQL step, between a
backfill's batches, at a manual step's question. The run is left interrupted with the step
under way, the message names it and the commands that settle it, the exit code is 130 or
143, and `migrator resume` then finishes the run with each step's effect once. A second
signal stops at once, the statement in flight rolled back, and is still recorded."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

from tests import plans
from tests.faults.gates import Gate, run_held_at
from tests.processes import sigkill, spawn, step_started, wait_for

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
FIRST_SIGNAL_HANDLED = "stopping at the next safe point"

THREE = plans.phased("three", [plans.traced("one"), plans.traced("two"), plans.traced("three")])


def wait_for_line(
    stream: IO[str] | None, text: str, seen: list[str], timeout: float = 20.0
) -> None:
    """Read `stream` (a pipe of a running process) line by line until one holds `text`."""
    assert stream is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            line = stream.readline()
            seen.append(line)
            if text in line:
                return
            if not line:
                break
    raise AssertionError(f"no line with {text!r} came; seen: {''.join(seen)}")


def finish(proc: subprocess.Popen[str], seen: list[str]) -> tuple[int, str, str]:
    """Wait for the process to end: (exit code, stdout, all of stderr)."""
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, "".join(seen) + err


def run_status(sql: Any) -> list[tuple[object, ...]]:
    return sql("select id, status from migrator.runs order by id")


def interrupted_event(sql: Any) -> tuple[object, ...]:
    (row,) = sql(
        "select step, detail->>'from', detail->>'reason' from migrator.events "
        "where kind = 'state' and status = 'interrupted'"
    )
    return row


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


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_in_a_backfill_stops_it_between_two_batches(
    signum: int, code: int, database: str, write_plan: Any, migrator: Any, sql: Any
) -> None:
    sql(
        "create table src (id int primary key, v int); create table dst (id int primary key, "
        f"v int); insert into src select g, g from generate_series(1, {plans.BACKFILL_ROWS}) g"
    )
    plan = write_plan(plans.backfill_plan(batch_size=2000))
    seen: list[str] = []
    gate = Gate(database)
    try:
        gate.at_row("checkpoints", batches_done=3)  # the third batch, in its transaction
        proc = spawn("apply", plan, "--to", "full", "--dsn", database)
        try:
            wait_for(lambda: gate.reached_row() is not None, proc=proc)
            os.kill(proc.pid, signum)
            wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
            gate.open()
            exit_code, out, err = finish(proc, seen)
        finally:
            sigkill(proc)
    finally:
        gate.close()
    assert exit_code == code, out + err
    assert sql("select batches_done, rows_done from migrator.checkpoints") == [(3, 6000)]
    assert sql("select count(*) from dst") == [(6000,)]  # the batch in flight committed
    assert run_status(sql) == [(1, "interrupted")]
    step, _was, reason = interrupted_event(sql)
    assert step == "step copy"
    assert "stopped between two batches of step copy" in str(reason)
    assert "stopped between two batches of step copy" in err
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert sql("select count(*), count(distinct id) from dst") == [
        (plans.BACKFILL_ROWS, plans.BACKFILL_ROWS)
    ]
    assert run_status(sql) == [(1, "succeeded")]


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


PROGRAM = (
    "import pathlib, sys, time; d = pathlib.Path(sys.argv[1]); (d / 'started').touch()\n"
    "while not (d / 'go').exists(): time.sleep(0.05)\n"
    "(d / 'finished').touch()"
)


def test_ctrl_c_at_the_terminal_lets_a_program_finish_then_stops(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None, tmp_path: Path
) -> None:
    import json

    argv = json.dumps([sys.executable, "-c", PROGRAM, str(tmp_path)])
    plan = write_plan(
        plans.phased(
            "prog", [plans.traced("one"), f"name: deploy\ncommand: {argv}", plans.traced("two")]
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", "apply", str(plan), "--to", "b", "--dsn", database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    seen: list[str] = []
    try:
        wait_for(lambda: (tmp_path / "started").exists(), proc=proc)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at the terminal does
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        (tmp_path / "go").touch()
        exit_code, out, err = finish(proc, seen)
    finally:
        sigkill(proc)
    assert exit_code == 130, out + err
    assert (tmp_path / "finished").exists()  # the program was not interrupted
    assert sql(
        "select count(*) from migrator.events where step = 'deploy' and status = 'done'"
    ) == [(1,)]
    assert sql("select step from ran") == [("one",)]
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert sql(
        "select count(*) from migrator.events where step = 'deploy' and status = 'done'"
    ) == [(1,)]  # the program ran once
    assert sorted(sql("select step from ran")) == [("one",), ("two",)]


def test_a_stopped_run_still_gives_json_output_its_document(
    database: str, write_plan: Any, sql: Any, traced: None
) -> None:
    import json

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


KINDS = {
    "flag": "flag: {name: CUTOVER, value: true}",
    "rls": "rls: {table: profiles, enable: true}",
    "policy": "policy: {table: profiles, name: mine, command: select, to: public, using: 'true'}",
    "http": "http: {method: POST, url: URL/deploy}",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_signal_at_every_kind_of_step_lets_it_finish_once(
    kind: str,
    database: str,
    write_plan: Any,
    migrator: Any,
    sql: Any,
    traced: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.httpserver import running

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    sql("create table profiles (id int)")
    with running() as server:
        server.route("/deploy", 200, {"ok": True})
        step = f"name: the {kind} step\n{KINDS[kind].replace('URL', server.url)}"
        plan = write_plan(plans.phased("kinds", [plans.traced("one"), step, plans.traced("two")]))
        seen: list[str] = []
        argv = ["apply", plan, "--to", "b"]
        match = {"kind": "step", "status": "done", "step": f"the {kind} step"}
        with run_held_at(database, argv, **match) as (proc, gate):
            os.kill(proc.pid, signal.SIGINT)
            wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
            gate.open()
            exit_code, out, err = finish(proc, seen)
        assert exit_code == 130, out + err
        assert run_status(sql) == [(1, "interrupted")]
        assert "stopped before step two" in err
        resumed = migrator("resume", plan)
        assert resumed.code == 0, resumed.out + resumed.err
        done = sql(
            "select count(*) from migrator.events where kind = 'step' and status = 'done' "
            "and step = %s",
            f"the {kind} step",
        )
        assert done == [(1,)]  # the step happened once
        assert sorted(sql("select step from ran")) == [("one",), ("two",)]
        assert len(server.requests_to("/deploy")) == (1 if kind == "http" else 0)


def test_a_second_signal_in_a_backfill_rolls_back_the_batch_in_flight(
    database: str, write_plan: Any, migrator: Any, sql: Any
) -> None:
    sql(
        "create table src (id int primary key, v int); create table dst (id int primary key, "
        f"v int); insert into src select g, g from generate_series(1, {plans.BACKFILL_ROWS}) g"
    )
    plan = write_plan(plans.backfill_plan(batch_size=2000))
    seen: list[str] = []
    gate = Gate(database)
    try:
        gate.at_row("checkpoints", batches_done=3)  # the third batch, in its transaction
        proc = spawn("apply", plan, "--to", "full", "--dsn", database)
        try:
            wait_for(lambda: gate.reached_row() is not None, proc=proc)
            os.kill(proc.pid, signal.SIGINT)
            wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
            os.kill(proc.pid, signal.SIGINT)  # the gate stays shut
            exit_code, out, err = finish(proc, seen)
        finally:
            sigkill(proc)
    finally:
        gate.close()
    assert exit_code == 130, out + err
    assert "stopped at once, while step copy ran" in err
    assert sql("select batches_done, rows_done from migrator.checkpoints") == [(2, 4000)]
    assert sql("select count(*) from dst") == [(4000,)]  # the third batch rolled back
    assert run_status(sql) == [(1, "interrupted")]
    resumed = migrator("resume", plan)
    assert resumed.code == 0, resumed.out + resumed.err
    assert sql("select count(*), count(distinct id) from dst") == [
        (plans.BACKFILL_ROWS, plans.BACKFILL_ROWS)
    ]
