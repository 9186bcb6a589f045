"""SIGINT at every kind of step of a real `migrator apply`: a backfill stops between two
batches (a second signal rolls back the batch in flight), a command's program finishes
(Ctrl-C at the terminal does not reach it), a flag, rls, policy or http step finishes once;
`migrator resume` then does each step once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import plans
from tests.faults.gates import Gate, run_held_at
from tests.httpserver import running
from tests.processes import sigkill, spawn, wait_for
from tests.signals import (
    FIRST_SIGNAL_HANDLED,
    SIGNALS,
    finish,
    interrupted_event,
    run_status,
    wait_for_line,
)


def _source_and_target(sql: Any) -> None:
    """`src` with the backfill tests' rows, and an empty `dst` to copy them into."""
    sql(
        "create table src (id int primary key, v int); create table dst (id int primary key, "
        f"v int); insert into src select g, g from generate_series(1, {plans.BACKFILL_ROWS}) g"
    )


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_in_a_backfill_stops_it_between_two_batches(
    signum: int, code: int, database: str, write_plan: Any, migrator: Any, sql: Any
) -> None:
    _source_and_target(sql)
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


PROGRAM = (
    "import pathlib, sys, time; d = pathlib.Path(sys.argv[1]); (d / 'started').touch()\n"
    "while not (d / 'go').exists(): time.sleep(0.05)\n"
    "(d / 'finished').touch()"
)


def test_ctrl_c_at_the_terminal_lets_a_program_finish_then_stops(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None, tmp_path: Path
) -> None:
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
    _source_and_target(sql)
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
