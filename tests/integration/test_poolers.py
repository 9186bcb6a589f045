"""Migrator behind a real PgBouncer (tests/poolers.py).

In transaction mode the commands that hold the plan's lock (apply, resume, rollback) and
rehearse stop with exit 2 before writing anything, not even schema `migrator`, and leave
no advisory lock behind; the commands that only read work. In session mode a plan
applies and rolls back, and two applies at once still run one at a time.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.plans import FOUR_STEPS, phased
from tests.poolers import Poolers
from tests.processes import spawn, step_started, wait_for

REFUSED = "the connection goes through a pooler in transaction mode"
ADVICE = "use a direct connection or a pooler in session mode"


def _state_of(sql: Any) -> dict[str, Any]:
    return {
        "schema": sql("select to_regnamespace('migrator') is not null")[0][0],
        "ran": sql("select to_regclass('ran') is not null and exists (select from ran)")[0][0],
        "advisory locks": sql("select count(*) from pg_locks where locktype = 'advisory'")[0][0],
    }


@pytest.mark.parametrize("command", ["apply", "resume", "rollback"])
def test_through_transaction_pooling_a_command_that_locks_writes_nothing_and_exits_2(
    command: str,
    migrator: Any,
    write_plan: Any,
    sql: Any,
    traced: None,
    database: str,
    poolers: Poolers,
) -> None:
    plan = write_plan(FOUR_STEPS)
    pooled = poolers("transaction").dsn(database)
    argv = [command, plan] + (["--to", "b"] if command == "apply" else [])
    result = migrator(*argv, "--dsn", pooled, dsn=False)
    assert result.code == 2, result.out + result.err
    assert REFUSED in result.err and ADVICE in result.err
    assert "port 5432 instead of 6543" in result.err
    assert "Traceback" not in result.err
    assert _state_of(sql) == {"schema": False, "ran": False, "advisory locks": 0}


def test_through_transaction_pooling_a_run_of_an_existing_schema_is_not_begun(
    migrator: Any, write_plan: Any, sql: Any, traced: None, database: str, poolers: Poolers
) -> None:
    plan = write_plan(FOUR_STEPS)
    assert migrator("status", plan).code == 0  # nothing written: schema migrator absent
    migrator("apply", plan, "--to", "b")
    migrator("rollback", plan)  # schema migrator exists now, with two runs
    sql("truncate ran, undone")
    pooled = poolers("transaction").dsn(database)
    result = migrator("apply", plan, "--to", "b", "--dsn", pooled, dsn=False)
    assert result.code == 2, result.out + result.err
    assert sql("select count(*) from migrator.runs") == [(2,)]
    assert sql("select count(*) from migrator.locks") == [(0,)]
    assert _state_of(sql)["ran"] is False


def test_through_transaction_pooling_the_commands_that_read_or_steer_work(
    migrator: Any, write_plan: Any, sql: Any, traced: None, database: str, poolers: Poolers
) -> None:
    plan = write_plan(FOUR_STEPS)
    pooled = poolers("transaction").dsn(database)
    result = migrator("plan", plan, "--to", "b", "--dsn", pooled, dsn=False)
    assert result.code == 0, result.out + result.err
    assert migrator("apply", plan, "--to", "b").code == 0
    reads = (["status", plan], ["history", plan], ["plan", plan, "--to", "b"], ["report", "1"])
    for argv in (*reads, ["graph", plan]):
        for _ in range(3):  # the same queries again and again: no prepared statement clash
            result = migrator(*argv, "--dsn", pooled, dsn=False)
            assert result.code == 0, result.out + result.err
    for verb in ("pause", "continue"):  # they read the plan's run through the pooler too
        for _ in range(3):
            result = migrator(verb, plan, "--dsn", pooled, dsn=False)
            assert result.code == 2, result.out + result.err
            assert f"has no backfill running (no run of it is live): nothing to {verb}" in (
                result.err
            )
    assert "phase: b" in migrator("status", plan, "--dsn", pooled, dsn=False).out
    assert _state_of(sql)["advisory locks"] == 0  # status took no lock to leave behind


def test_through_transaction_pooling_rehearse_exits_2_before_reading_the_target(
    migrator: Any, write_plan: Any, database: str, poolers: Poolers, sql: Any
) -> None:
    plan = write_plan(FOUR_STEPS)
    result = migrator("rehearse", plan, "--dsn", poolers("transaction").dsn(database), dsn=False)
    assert result.code == 2, result.out + result.err
    assert REFUSED in result.err
    assert "rehearsing" not in result.out


def test_connections_prepare_no_statement_that_another_client_would_meet(
    database: str, poolers: Poolers
) -> None:
    """psycopg prepares a query run 5 times; through transaction pooling the next client
    on that server session then fails with DuplicatePreparedStatement. Migrator's
    connections never prepare."""
    from sqlalchemy import text

    from migrator.db.target import Target, connect_engine

    engine = connect_engine(Target(poolers("transaction").dsn(database), "--dsn"))
    try:
        with engine.connect() as first, engine.connect() as second:
            for n in range(8):
                for conn in (first, second):
                    assert conn.execute(text("select :n"), {"n": n}).scalar() == n
                    conn.commit()
    finally:
        engine.dispose()


def test_through_session_pooling_a_plan_applies_and_rolls_back(
    migrator: Any, write_plan: Any, sql: Any, traced: None, database: str, poolers: Poolers
) -> None:
    plan = write_plan(FOUR_STEPS)
    pooled = poolers("session").dsn(database)
    result = migrator("apply", plan, "--to", "b", "--dsn", pooled, dsn=False)
    assert result.code == 0, result.out + result.err
    assert sql("select string_agg(step, ',' order by at) from ran") == [("one,two,three,four",)]
    assert migrator("status", plan, "--dsn", pooled, dsn=False).code == 0
    result = migrator("rollback", plan, "--dsn", pooled, dsn=False)
    assert result.code == 0, result.out + result.err
    assert sql("select string_agg(step, ',' order by at) from undone") == [("four,three,two,one",)]
    assert sql("select phase from migrator.plan_state") == [("a",)]
    assert _state_of(sql)["advisory locks"] == 0


GATE = 7_340_034  # the advisory lock key the first apply's step waits for

GATED = phased(
    "gated",
    [
        "name: wait at the gate\nsql: select pg_advisory_xact_lock(:gate)\nlock_timeout: 10m",
        "name: record\nsql: insert into ran (step) values ('gated')",
    ],
    variables="{gate: 0}",
)


def test_through_session_pooling_of_two_applies_at_once_one_runs(
    write_plan: Any, sql: Any, traced: None, database: str, poolers: Poolers
) -> None:
    plan = write_plan(GATED)
    pooled = poolers("session").dsn(database)
    argv = ["apply", plan, "--to", "b", "--dsn", pooled, "--var", f"gate={GATE}"]
    with psycopg.connect(database, autocommit=True) as gate:
        gate.execute("select pg_advisory_lock(%s)", (GATE,))
        first = spawn(*argv, "--operator", "first")
        try:
            wait_for(step_started(sql, "wait at the gate"), timeout=120, proc=first)
            second = spawn(*argv, "--operator", "second")
            second_out, second_err = second.communicate(timeout=120)
        finally:
            gate.execute("select pg_advisory_unlock(%s)", (GATE,))
        out, err = first.communicate(timeout=120)
    assert second.returncode == 4, second_out + second_err
    assert "plan gated is locked: held by " in second_err
    assert first.returncode == 0, out + err
    assert sql("select count(*), min(operator) from migrator.runs") == [(1, "first")]
    assert sql("select count(*) from ran") == [(1,)]


@pytest.mark.parametrize("key", [-(2**63), -5, 5, 2**63 - 1])
def test_a_lock_is_seen_on_the_session_that_holds_it_and_released_only_there(
    database: str, key: int
) -> None:
    """What the checks read in pg_locks, and the release after a lock landed on a server
    session the connection no longer reaches, on two direct sessions."""
    from sqlalchemy import text

    from migrator.db.sessions import lock_pids, lock_pinned, release_lock, require_pinned
    from migrator.db.target import Target, connect_engine

    engine = connect_engine(Target(database, "--dsn"))
    try:
        with (
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as holder,
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other,
        ):
            require_pinned(engine, holder)  # a direct connection keeps its session
            pid = holder.execute(
                text("select pg_backend_pid() from pg_advisory_lock(:k)"), {"k": key}
            ).scalar_one()
            assert lock_pinned(holder, key) and not lock_pinned(other, key)
            assert lock_pids(other, key) == [pid]
            assert lock_pids(other, key ^ 1) == []
            assert release_lock(other, key, pid) is False  # not its session: left alone
            assert lock_pids(other, key) == [pid]
            assert release_lock(holder, key, pid) is True
            assert lock_pids(other, key) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("round_robin", [False, True], ids=["lifo", "round-robin"])
def test_each_way_a_transaction_pooler_hands_out_sessions_is_found_out(
    database: str, poolers: Poolers, round_robin: bool
) -> None:
    """Last used first (PgBouncer's default): a second connection gets the first one's
    server session. Round robin, with several server sessions open: one connection's
    session changes between its transactions."""
    from migrator.db.sessions import TransactionPooling, require_pinned
    from migrator.db.target import Target, connect_engine

    pooled = poolers("transaction", round_robin=round_robin).dsn(database)
    engine = connect_engine(Target(pooled, "--dsn"))
    try:
        with engine.connect() as a, engine.connect() as b, engine.connect() as c:
            for conn in (a, b, c):  # three server sessions open at once, idle again after
                conn.exec_driver_sql("select 1")
            for conn in (a, b, c):
                conn.rollback()
        with pytest.raises(TransactionPooling) as refused:
            require_pinned(engine)
    finally:
        engine.dispose()
    expected = "changed between two transactions" if round_robin else "one server session"
    assert expected in str(refused.value)
