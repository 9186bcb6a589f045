"""Killed processes, a second operator, lost connections, and a dry run that changes nothing."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import plans
from tests.faults.gates import Gate, run_held_at
from tests.plans import FOUR_STEPS
from tests.processes import sigkill, spawn, step_started, wait_for


@pytest.fixture
def killed_after_two(write_plan: Any, database: str, sql: Any, traced: None) -> Path:
    """A run of four steps killed with SIGKILL during its third step."""
    plan = write_plan(FOUR_STEPS)
    proc = spawn("apply", plan, "--to", "b", "--dsn", database, "--var", "nap=60")
    try:
        wait_for(step_started(sql, "three"), proc=proc)
    finally:
        killed = sigkill(proc)
    assert killed == -signal.SIGKILL
    return plan  # type: ignore[no-any-return]


def test_killed_run_is_reported_interrupted(
    killed_after_two: Path, migrator: Any, sql: Any
) -> None:
    status = json.loads(migrator("status", killed_after_two, "--output", "json").out)
    assert status["lock"]["held"] is False  # the dead process left no lock behind
    assert status["open_run"]["state"] == "interrupted"
    assert status["open_run"]["last_step_done"] == "two"
    text = migrator("status", killed_after_two).out
    assert "interrupted" in text and "migrator resume" in text


def test_resume_completes_a_killed_run_each_step_once(
    killed_after_two: Path, migrator: Any, sql: Any
) -> None:
    result = migrator("resume", killed_after_two)
    assert result.code == 0, result.out + result.err
    assert sorted(sql("select step from ran")) == [("four",), ("one",), ("three",), ("two",)]
    assert sql("select status from migrator.runs") == [("succeeded",)]
    assert sql("select phase from migrator.plan_state") == [("b",)]
    states = [
        r[0] for r in sql("select status from migrator.events where kind = 'state' order by id")
    ]
    assert "interrupted" in states and states[-1] == "succeeded"


def test_rollback_undoes_exactly_what_the_killed_run_completed(
    killed_after_two: Path, migrator: Any, sql: Any
) -> None:
    result = migrator("rollback", killed_after_two)
    assert result.code == 0, result.out + result.err
    assert sql("select step from undone order by at") == [("two",), ("one",)]
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select count(*) from migrator.plan_state") == [(0,)]


def test_apply_of_another_transition_is_refused_while_a_run_is_interrupted(
    killed_after_two: Path, migrator: Any, sql: Any, write_plan: Any
) -> None:
    # apply of the same transition resumes it; a different target is refused (exit 2: nothing
    # was touched), naming the commands that settle the interrupted run
    text = Path(killed_after_two).read_text().replace("phases: [a, b]", "phases: [a, b, c]")
    text += "  - {name: sideways, from: a, to: c, steps: [{sql: select 1}]}\n"
    Path(killed_after_two).write_text(text)
    refused = migrator("apply", killed_after_two, "--to", "c", "--force")
    assert refused.code == 2
    assert "was interrupted" in refused.err
    assert f"migrator resume {killed_after_two}" in refused.err
    assert f"migrator rollback {killed_after_two}" in refused.err


def test_apply_of_the_same_transition_resumes_it(
    killed_after_two: Path, migrator: Any, sql: Any
) -> None:
    result = migrator("apply", killed_after_two, "--to", "b")
    assert result.code == 0, result.out + result.err
    assert "resuming it" in result.out
    assert sql("select count(*) from ran") == [(4,)]


def test_second_operator_is_turned_away_with_the_holder(
    write_plan: Any, database: str, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(FOUR_STEPS)
    alice = ("apply", plan, "--to", "b", "--operator", "alice")
    inside_three = {"kind": "step", "status": "done", "step": "three"}
    with run_held_at(database, alice, **inside_three) as (first, gate):  # while bob tries
        second = migrator("apply", plan, "--to", "b", "--operator", "bob")
        assert second.code == 4
        run_id = sql("select id from migrator.runs")[0][0]
        assert f"held by run {run_id} of alice on " in second.err
        assert " since " in second.err
        assert sql("select count(*) from migrator.runs") == [(1,)]
        assert sql("select operator from migrator.runs") == [("alice",)]
        status = json.loads(migrator("status", plan, "--output", "json").out)
        assert status["lock"]["held"] is True
        assert status["lock"]["holder"]["operator"] == "alice"
        assert status["open_run"]["state"] == "running"
        gate.open()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert sql("select count(*) from ran") == [(4,)]


def test_lost_connection_mid_step_is_redone_on_a_new_connection(
    write_plan: Any, database: str, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(FOUR_STEPS)
    gate = Gate(database)  # step three is held with its work done, not yet committed
    gate.at_row("events", kind="step", status="done", step="three")

    def terminate_the_step() -> None:
        wait_for(lambda: gate.reached_row() is not None)
        sql("select pg_terminate_backend(%s)", gate.reached_row())
        gate.open()  # the step, done again on a new connection, goes through

    killer = threading.Thread(target=terminate_the_step)
    killer.start()
    try:
        result = migrator("apply", plan, "--to", "b")
    finally:
        killer.join()
        gate.close()
    assert result.code == 0, result.out + result.err
    # the terminated transaction took its insert with it; the retry inserted once
    assert sorted(sql("select step from ran")) == [("four",), ("one",), ("three",), ("two",)]
    retries = sql("select step from migrator.events where kind = 'step' and status = 'retry'")
    assert retries == [("three",)]


def snapshot(database: str) -> dict[str, Any]:
    """Catalog and data of every schema but PostgreSQL's own."""
    with psycopg.connect(database, autocommit=True) as conn:
        catalog = {
            "relations": conn.execute(
                "select n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity "
                "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') "
                "order by 1, 2"
            ).fetchall(),
            "columns": conn.execute(
                "select table_schema, table_name, column_name, data_type, is_nullable, "
                "column_default from information_schema.columns "
                "where table_schema not in ('pg_catalog', 'information_schema') order by 1, 2, 3"
            ).fetchall(),
            "indexes": conn.execute("select indexdef from pg_indexes order by 1").fetchall(),
            "policies": conn.execute("select * from pg_policies order by 1, 2, 3").fetchall(),
            "schemas": conn.execute("select nspname from pg_namespace order by 1").fetchall(),
        }
        tables = conn.execute(
            "select schemaname, tablename from pg_tables "
            "where schemaname not in ('pg_catalog', 'information_schema')"
        ).fetchall()
        data = {}
        for schema, table in tables:
            data[f"{schema}.{table}"] = conn.execute(
                f"select md5(coalesce(string_agg(t::text, ',' order by t::text), '')) "
                f'from "{schema}"."{table}" t'
            ).fetchone()
        sequences = conn.execute(
            "select schemaname, sequencename, last_value from pg_sequences order by 1, 2"
        ).fetchall()
    return {"catalog": catalog, "data": data, "sequences": sequences}


def test_dry_run_changes_nothing(
    write_plan: Any, database: str, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(FOUR_STEPS)
    hotfix = write_plan(
        plans.hotfix("other", ["{flag: {name: X, value: 1}}"]),
        "other.yaml",
    )
    assert migrator("apply", hotfix).code == 0  # schema migrator exists, with state in it
    before = snapshot(database)
    result = migrator("plan", plan, "--to", "b")
    assert result.code == 0, result.err
    assert "insert into ran values ('three'); select pg_sleep(:nap)" in result.out
    assert "undo: insert into undone values ('one')" in result.out
    document = json.loads(migrator("plan", plan, "--to", "b", "--output", "json").out)
    assert [s["name"] for s in document["path"][0]["steps"]] == ["one", "two", "three", "four"]
    assert snapshot(database) == before


def test_dry_run_on_a_fresh_database_creates_no_schema(
    write_plan: Any, migrator: Any, sql: Any
) -> None:
    plan = write_plan(
        plans.phased(
            "fresh",
            ["{sql: create table w (x int)}"],
            pre_checks=[
                "name: no widgets yet\n"
                "query: \"select count(*) from pg_tables where tablename = 'w'\"\n"
                "expect: 0",
                "{name: would fail today, query: select 1, expect: 2}",
                "{name: flag off, flag_is: {name: F, value: false}, on_fail: warn}",
            ],
        )
    )
    result = migrator("plan", plan, "--to", "b", "--output", "json")
    assert result.code == 0, result.err
    today = [c["today"]["passed"] for c in json.loads(result.out)["path"][0]["pre_checks"]]
    assert today == [True, False, False]
    assert sql("select to_regnamespace('migrator')") == [(None,)]
    assert sql("select to_regclass('w')") == [(None,)]


LOCK_PLAN = plans.phased(
    "held",
    [
        "{name: first, sql: \"insert into ran values ('first')\"}",
        "{name: second, sql: \"insert into ran values ('second')\"}",
    ],
)


@contextmanager
def _lock_lost_during_first(database: str, sql: Any, grab: bool) -> Iterator[None]:
    """While the body runs the plan: hold step `first` at a gate (its work done, not yet
    committed), close the lock's connection from the server and wait until that session
    is gone with its lock; with `grab`, take the lock and hold it until the body is over.
    Then let `first` go on: the run checks its lock before `second`."""
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
            if grab:
                conn.execute("select pg_advisory_lock(%s)", (lock_key("held"),))
            gate.open()
            finished.wait()  # the lock, if taken, is held until the run is over

    thread = threading.Thread(target=work)
    thread.start()
    try:
        yield
    finally:
        finished.set()
        thread.join()
        gate.close()


def test_a_lost_lock_is_taken_again_when_nobody_holds_it(
    write_plan: Any, database: str, migrator: Any, sql: Any, traced: None
) -> None:
    with _lock_lost_during_first(database, sql, grab=False):
        result = migrator("apply", write_plan(LOCK_PLAN), "--to", "b")
    assert result.code == 0, result.out + result.err
    assert sql("select status from migrator.events where kind = 'lock'") == [("reacquired",)]
    assert sorted(sql("select step from ran")) == [("first",), ("second",)]


def test_a_run_whose_lock_was_taken_stops_without_doing_more(
    write_plan: Any, database: str, migrator: Any, sql: Any, traced: None
) -> None:
    with _lock_lost_during_first(database, sql, grab=True):
        result = migrator("apply", write_plan(LOCK_PLAN), "--to", "b")
    assert result.code == 4
    assert "lost its lock" in result.err
    assert sql("select step from ran") == [("first",)]  # second never ran
    assert sql("select status from migrator.runs") == [("applying",)]  # left as it was
