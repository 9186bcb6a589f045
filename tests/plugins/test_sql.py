"""The sql action: transactions, autocommit, timeouts, and DDL that waits for a lock."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg


def test_a_blocked_ddl_step_gives_up_retries_and_names_the_blocker(
    migrator: Any, write_plan: Any, sql: Any, database: str
) -> None:
    sql("create table busy (id int)")
    plan = write_plan(
        """\
        plan: ddl
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps:
              - name: add a column
                sql: alter table busy add column note text
                lock_timeout: 300ms
        """
    )
    holder = psycopg.connect(database, application_name="reporting-job")
    holder.execute("select * from busy /* the long report */")  # holds AccessShareLock, idle
    waits: list[float] = []

    def ordinary_traffic() -> None:
        # While the DDL waits, plain reads queue behind it; never for longer than its timeout.
        time.sleep(0.1)
        with psycopg.connect(database, autocommit=True) as conn:
            for _ in range(5):
                started = time.monotonic()
                conn.execute("select count(*) from busy")
                waits.append(time.monotonic() - started)
                time.sleep(0.2)

    traffic = threading.Thread(target=ordinary_traffic)
    traffic.start()
    try:
        result = migrator("apply", plan, "--to", "b")
    finally:
        traffic.join()
        holder_pid = holder.info.backend_pid
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
    # report commits (never, here); the rest is slack for a busy machine.
    assert max(waits) < 0.3 + 0.7
    assert sql("select count(*) from information_schema.columns where table_name = 'busy'") == [
        (1,)
    ]


def test_timeout_bounds_a_statement(migrator: Any, write_plan: Any, sql: Any) -> None:
    plan = write_plan(
        """\
        plan: slow
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps:
              - {name: too slow, sql: select pg_sleep(5), timeout: 200ms}
        """
    )
    started = time.monotonic()
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1
    assert time.monotonic() - started < 4
    assert "canceling statement due to statement timeout" in result.out


def test_autocommit_runs_outside_a_transaction(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table docs (id int)")
    plan = write_plan(
        """\
        plan: concurrently
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps:
              - sql: create index concurrently docs_id on docs (id)
                autocommit: true
                rollback: {sql: drop index concurrently docs_id, autocommit: true}
            post_checks:
              - {query: "select count(*) from pg_indexes where indexname = 'docs_id'", expect: 1}
        """
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
        """\
        plan: atomic
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps:
              - sql: |
                  insert into t values (1);
                  insert into t values (2);
                  insert into t values (1);
        """
    )
    assert migrator("apply", plan, "--to", "b").code == 1
    assert sql("select count(*) from t") == [(0,)]  # nothing half-done


def test_variables_are_bound_in_every_statement(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table kv (k text, v text)")
    plan = write_plan(
        """\
        plan: binds
        vars: {key: version, value: "v1.2.1"}
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps:
              - sql: |
                  insert into kv values (:key, :value);
                  insert into kv values (:key || '-cast', :value::text || '%');
            post_checks:
              - {query: "select count(*) from kv where v like 'v1.2.1%'", expect: 2}
        """
    )
    assert migrator("apply", plan, "--to", "b").code == 0
    assert sql("select k, v from kv order by k") == [
        ("version", "v1.2.1"),
        ("version-cast", "v1.2.1%"),
    ]
