"""The sql action: transactions, autocommit, timeouts, and DDL that waits for a lock."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from tests.plans import phased


def test_a_blocked_ddl_step_gives_up_retries_and_names_the_blocker(
    migrator: Any, write_plan: Any, sql: Any, database: str
) -> None:
    sql("create table busy (id int)")
    plan = write_plan(
        phased(
            "ddl",
            ["name: add a column\nsql: alter table busy add column note text\nlock_timeout: 300ms"],
        )
    )
    holder = psycopg.connect(database, application_name="reporting-job")
    holder.execute("select * from busy /* the long report */")  # holds AccessShareLock, idle
    holder_pid = holder.info.backend_pid
    applied = threading.Event()
    reads: list[str] = []  # how each read that queued behind the waiting DDL ended

    def ordinary_traffic() -> None:
        # While the DDL waits for its lock, a plain read queues behind it: it gets through
        # once the DDL gives up at its lock_timeout, with the report still open.
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("set statement_timeout = '60s'")  # the failure bound of a read
            while not applied.is_set():
                if not ddl_waits(conn):
                    applied.wait(0.02)  # the poll interval
                    continue
                try:
                    conn.execute("select count(*) from busy")
                    reads.append("through")
                except psycopg.errors.QueryCanceled:  # held until the report ends: end it
                    reads.append("held until its statement_timeout")
                    conn.execute("select pg_terminate_backend(%s)", (holder_pid,))

    traffic = threading.Thread(target=ordinary_traffic)
    traffic.start()
    try:
        result = migrator("apply", plan, "--to", "b")
    finally:
        applied.set()
        traffic.join()
        holder.close()
    assert result.code == 1
    assert f"blocked by pid {holder_pid}" in result.out
    assert "select * from busy /* the long report */" in result.out
    retries = sql("select count(*) from migrator.events where kind = 'step' and status = 'retry'")
    assert retries == [(3,)]
    failed = sql("select detail from migrator.events where status = 'failed'")[0][0]
    assert failed["attempts"] == 4
    assert failed["blockers"][0]["pid"] == holder_pid
    # Reads queue behind the waiting DDL only until its lock_timeout (0.3s), not until the
    # report commits (never, here).
    assert reads and set(reads) == {"through"}, reads
    assert sql("select count(*) from information_schema.columns where table_name = 'busy'") == [
        (1,)
    ]


def ddl_waits(conn: psycopg.Connection[Any]) -> bool:
    """Whether a session waits for an ACCESS EXCLUSIVE lock on table busy."""
    row = conn.execute(
        "select count(*) from pg_locks where relation = to_regclass('busy') "
        "and mode = 'AccessExclusiveLock' and not granted"
    ).fetchone()
    return bool(row and row[0])


def test_timeout_bounds_a_statement(migrator: Any, write_plan: Any, sql: Any) -> None:
    plan = write_plan(phased("slow", ["{name: too slow, sql: select pg_sleep(5), timeout: 200ms}"]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1
    # stopped once, at its timeout: not run to its end (it would have succeeded), not retried
    assert sql("select status from migrator.events where kind = 'step' order by id") == [
        ("started",),
        ("failed",),
    ]
    assert "canceling statement due to statement timeout" in result.out


def test_autocommit_runs_outside_a_transaction(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table docs (id int)")
    plan = write_plan(
        phased(
            "concurrently",
            [
                "sql: create index concurrently docs_id on docs (id)\n"
                "autocommit: true\n"
                "rollback: {sql: drop index concurrently docs_id, autocommit: true}"
            ],
            post_checks=[
                "query: select count(*) from pg_indexes where indexname = 'docs_id'\nexpect: 1"
            ],
        )
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out
    assert migrator("rollback", plan).code == 0
    assert sql("select count(*) from pg_indexes where indexname = 'docs_id'") == [(0,)]


def test_a_failing_statement_rolls_its_step_back_entirely(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    sql("create table t (id int primary key)")
    plan = write_plan(
        phased(
            "atomic",
            [
                "sql: |\n"
                "  insert into t values (1);\n"
                "  insert into t values (2);\n"
                "  insert into t values (1);"
            ],
        )
    )
    assert migrator("apply", plan, "--to", "b").code == 1
    assert sql("select count(*) from t") == [(0,)]  # nothing half-done


def test_variables_are_bound_in_every_statement(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table kv (k text, v text)")
    plan = write_plan(
        phased(
            "binds",
            [
                "sql: |\n"
                "  insert into kv values (:key, :value);\n"
                "  insert into kv values (:key || '-cast', :value::text || '%');"
            ],
            post_checks=["{query: \"select count(*) from kv where v like 'v1.2.1%'\", expect: 2}"],
            variables='{key: version, value: "v1.2.1"}',
        )
    )
    assert migrator("apply", plan, "--to", "b").code == 0
    assert sql("select k, v from kv order by k") == [
        ("version", "v1.2.1"),
        ("version-cast", "v1.2.1%"),
    ]
