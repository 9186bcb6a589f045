"""A database that goes away during a run: for a moment (the run reconnects and goes on)
or for longer than the reconnect window (exit 5, the run left interrupted)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.gates import run_held_at
from tests.faults.scenario import PLAN, query, seed, snapshot
from tests.faults.servers import RestartableServer, terminate_migrator_backends
from tests.helpers import Cli, fresh_database
from tests.processes import wait_for


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


@pytest.fixture
def on_restartable(
    restartable_server: RestartableServer, request: pytest.FixtureRequest
) -> Iterator[str]:
    with fresh_database(restartable_server.admin_dsn, request.config) as dsn:
        seed(dsn)
        yield dsn


def test_a_database_gone_longer_than_the_window_stops_the_run_with_exit_5(
    on_restartable: str,
    restartable_server: RestartableServer,
    plan: Path,
    cli: Cli,
    reference: dict[str, Any],
) -> None:
    dsn = on_restartable
    argv = ("apply", plan, "--to", "after")
    env = {"MIGRATOR_RECONNECT_TIMEOUT": "1"}
    inside_s4 = {"kind": "step", "status": "done", "step": "s4"}
    with run_held_at(dsn, argv, env, **inside_s4) as (proc, _):
        restartable_server.crash()
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            restartable_server.start()
    assert proc.returncode == 5, out + err
    assert "Traceback" not in err
    assert "error: lost the database and could not reconnect within 1s" in err
    assert f"migrator resume {plan}" in err and "left interrupted" in err
    status = json.loads(cli(dsn, "status", plan, "--output", "json").out)
    assert status["open_run"]["state"] == "interrupted"
    assert status["open_run"]["status"] == "applying"
    assert status["open_run"]["last_step_done"] == "s3"
    assert status["lock"]["held"] is False
    resumed = cli(dsn, "resume", plan)
    assert resumed.code == 0, resumed.text
    assert snapshot(dsn) == reference["after"]


def test_a_check_whose_connection_is_lost_is_asked_again_not_failed(
    database: str, plan: Path, cli: Cli, reference: dict[str, Any]
) -> None:
    seed(database)
    argv = ("apply", plan, "--to", "after")
    with run_held_at(database, argv, kind="state", status="verifying") as (proc, gate):
        # every step is done
        gate.at_table("unified")  # the first post-check will wait to read it
        gate.open_row()
        wait_for(lambda: gate.reached_table("unified") is not None, proc=proc)
        assert terminate_migrator_backends(database)
        gate.open()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    checks = query(
        database,
        "select step, status from migrator.events where kind = 'check' order by id",
    )
    assert checks == [
        ("every legacy row is unified", "passed"),
        ("the verdict of the release", "passed"),
    ]
    assert snapshot(database) == reference["after"]


def test_a_run_that_lost_its_lock_does_not_finish_without_it(
    database: str, plan: Path, cli: Cli, reference: dict[str, Any]
) -> None:
    import psycopg

    from migrator.engine.locks import lock_key

    seed(database)
    argv = ("apply", plan, "--to", "after")
    with run_held_at(database, argv, kind="state", status="verifying") as (proc, gate):
        # every step is done; the lock's connection is closed, and another session takes
        # the plan's lock
        (backend,) = query(database, "select backend_pid from migrator.locks")[0]
        query(database, "select pg_terminate_backend(%s)", backend)
        with psycopg.connect(database, autocommit=True) as other:
            other.execute("select pg_advisory_lock(%s)", (lock_key("faults"),))
            gate.open()
            out, err = proc.communicate(timeout=60)
            assert query(database, "select status from migrator.runs") == [("verifying",)]
    assert proc.returncode == 4, out + err
    assert "lost its lock" in err
    assert query(database, "select phase from migrator.plan_state") == []  # not succeeded
    status = json.loads(cli(database, "status", plan, "--output", "json").out)
    assert status["open_run"]["state"] == "interrupted"
    resumed = cli(database, "resume", plan)
    assert resumed.code == 0, resumed.text
    assert snapshot(database) == reference["after"]


TWO_TRANSITIONS = """\
plan: two
phases: [a, b, c]
transitions:
  - name: first
    from: a
    to: b
    steps: [{name: one, sql: "insert into ran values ('one')"}]
  - name: second
    from: b
    to: c
    steps: [{name: two, sql: "insert into ran values ('two')"}]
"""


def test_a_restart_during_the_first_of_two_transitions_is_survived_by_both(
    on_restartable: str, restartable_server: RestartableServer, tmp_path: Path
) -> None:
    dsn = on_restartable
    query(dsn, "create table ran (step text)")
    plan = tmp_path / "two.yaml"
    plan.write_text(TWO_TRANSITIONS)
    argv = ("apply", plan, "--to", "c")
    with run_held_at(dsn, argv, kind="step", status="done", step="one") as (proc, gate):
        restartable_server.crash_and_restart()
        gate.open()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert query(dsn, "select phase from migrator.plan_state") == [("c",)]
    assert sorted(query(dsn, "select step from ran")) == [("one",), ("two",)]
    assert query(dsn, "select transition, status from migrator.runs order by id") == [
        ("first", "succeeded"),
        ("second", "succeeded"),
    ]
