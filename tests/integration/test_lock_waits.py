"""A step or an undo outside a transaction waits for its lock at most its lock_timeout too,
and every lock wait, in a step or an undo, names the sessions that held it: in the output
and in the audit trail, on each retry and at the end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.helpers import events_of
from tests.plans import phased, traced
from tests.processes import step_started, wait_for

ADD_NOTE = (
    "name: add a note\n"
    "sql: alter table busy add column note text\n"
    "autocommit: true\n"
    "lock_timeout: 200ms\n"
    "timeout: 20s"  # what bounds the test if the lock wait were not
)


@contextmanager
def report_open(database: str) -> Iterator[psycopg.Connection[Any]]:
    """A reporting session that read table busy and stays in its transaction: it holds
    ACCESS SHARE on busy until it ends."""
    holder = psycopg.connect(database, application_name="reporting-job")
    holder.execute("select * from busy /* the long report */")
    try:
        yield holder
    finally:
        holder.close()


def columns(sql: Any) -> list[tuple[object, ...]]:
    return sql("select column_name from information_schema.columns where table_name = 'busy'")


def test_an_autocommit_step_behind_a_blocker_names_it_on_each_retry_then_is_undone(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table busy (id int); create table ran (step text); create table undone (step text)")
    plan = write_plan(phased("ddl", [traced("first"), ADD_NOTE]))
    with report_open(database) as holder:
        pid = holder.info.backend_pid
        result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err  # failed, and undone
    retries = events_of(sql, "step", "retry")
    assert len(retries) == 3  # max(retries, 3) more attempts
    assert [r["pause"] for r in retries] == [0.5, 1.0, 2.0]
    for retry in retries:
        assert [b["pid"] for b in retry["blockers"]] == [pid]
        assert retry["blockers"][0]["application"] == "reporting-job"
        assert f"blocked by pid {pid}" in retry["error"]
    (failed,) = events_of(sql, "step", "failed")
    assert failed["attempts"] == 4
    assert [b["pid"] for b in failed["blockers"]] == [pid]
    assert "canceling statement due to lock timeout" in failed["error"]
    # who blocked it, on each retry and at the end, for the operator
    lines = [line for line in result.out.splitlines() if f"blocked by pid {pid}" in line]
    assert [line.split()[0] for line in lines] == ["↻", "↻", "↻", "✗", "run"], result.out
    assert "select * from busy /* the long report */" in lines[0]
    assert "again in 0.5s" in result.out
    assert sql("select step from undone") == [("first",)]  # the run's earlier step undone
    assert columns(sql) == [("id",)]


def test_an_autocommit_step_is_retried_until_the_blocker_leaves(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table busy (id int)")
    plan = write_plan(phased("ddl", [ADD_NOTE]))
    with report_open(database) as holder:
        pid = holder.info.backend_pid
        retried = threading.Event()

        def end_report_at_first_retry() -> None:
            wait_for(lambda: bool(events_of(sql, "step", "retry")), timeout=30)
            holder.rollback()  # the report ends: its lock goes
            retried.set()

        ender = threading.Thread(target=end_report_at_first_retry)
        ender.start()
        try:
            result = migrator("apply", plan, "--to", "b")
        finally:
            ender.join()
    assert retried.is_set()
    assert result.code == 0, result.out + result.err
    assert events_of(sql, "step", "retry")[0]["blockers"][0]["pid"] == pid
    assert len(events_of(sql, "step", "done")) == 1
    assert columns(sql) == [("id",), ("note",)]


FAIL_WHEN_TOLD = (
    "name: fail when told\n"
    "sql: |\n"
    "  do $$ begin\n"
    "    while not exists (select 1 from go_on) loop perform pg_sleep(0.02); end loop;\n"
    "    raise exception 'told to fail';\n"
    "  end $$"
)


@pytest.mark.parametrize("autocommit", [False, True], ids=["in a transaction", "autocommit"])
def test_an_undo_behind_a_blocker_is_retried_naming_it_then_fails(
    migrator: Any, sql: Any, write_plan: Any, database: str, autocommit: bool
) -> None:
    sql("create table busy (id int); create table go_on (ok boolean)")
    undo = "{sql: alter table busy drop column note" + (", autocommit: 1}" if autocommit else "}")
    add = (
        "name: add a note\nsql: alter table busy add column note text\n"
        f"lock_timeout: 200ms\ntimeout: 20s\nrollback: {undo}"
    )
    plan = write_plan(phased("ddl", [add, FAIL_WHEN_TOLD]))
    holders: list[psycopg.Connection[Any]] = []
    pids: list[int] = []

    def block_the_undo() -> None:  # once the note is added, a report reads busy
        wait_for(step_started(sql, "fail when told"), timeout=30)
        holders.append(psycopg.connect(database, application_name="reporting-job"))
        holders[0].execute("select * from busy /* the long report */")
        pids.append(holders[0].info.backend_pid)
        sql("insert into go_on values (true)")

    blocker = threading.Thread(target=block_the_undo)
    blocker.start()
    try:
        result = migrator("apply", plan, "--to", "b")
    finally:
        blocker.join()
        for holder in holders:
            holder.close()
    pid = pids[0]
    assert result.code == 3, result.out + result.err  # undo failed: manual intervention
    retries = events_of(sql, "undo", "retry")
    assert len(retries) == 3
    assert [r["pause"] for r in retries] == [0.5, 1.0, 2.0]
    assert all([b["pid"] for b in r["blockers"]] == [pid] for r in retries)
    (failed,) = events_of(sql, "undo", "failed")
    assert [b["pid"] for b in failed["blockers"]] == [pid]
    assert f"blocked by pid {pid}" in failed["error"]
    lines = [line for line in result.out.splitlines() if f"blocked by pid {pid}" in line]
    assert [line.split()[:2] for line in lines[:4]] == [["↻", "undo"]] * 3 + [["✗", "undo"]]
    assert ("note",) in columns(sql)  # not undone


def test_every_connection_goes_back_to_the_pool_without_the_lock_timeout_of_its_step(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    sql("create table seen (lock_timeout text, statement_timeout text)")
    record = "insert into seen values (current_setting('lock_timeout'), " + (
        "current_setting('statement_timeout'))"
    )
    look = (
        f'name: look\nsql: "{record}"\nautocommit: true\nlock_timeout: 1234ms\ntimeout: 7s\n'
        f'rollback: {{sql: "{record}", autocommit: true}}'
    )
    fail = "name: fail\nsql: select 1 / 0"  # the look is undone too, outside a transaction
    settings: list[tuple[str, str]] = []

    def returned(dbapi_connection: Any, record: Any) -> None:  # as the pool gets it back
        if dbapi_connection is None or dbapi_connection.closed:
            return
        with dbapi_connection.cursor() as cur:
            cur.execute(
                "select current_setting('lock_timeout'), current_setting('statement_timeout')"
            )
            settings.append(cur.fetchone())
        if not dbapi_connection.autocommit:
            dbapi_connection.rollback()

    plan = write_plan(phased("clean", [look, fail]))
    event.listen(Pool, "checkin", returned)
    try:
        applied = migrator("apply", plan, "--to", "b")
    finally:
        event.remove(Pool, "checkin", returned)
    assert applied.code == 1, applied.out + applied.err
    assert sql("select count(*) from migrator.events where kind = 'undo' and status = 'done'") == [
        (1,)
    ]
    # the step and its undo, each outside a transaction, under the step's timeouts
    assert sql("select * from seen") == [("1234ms", "7s"), ("1234ms", "7s")]
    assert len(settings) >= 3, settings  # the step's, the undo's, the run's own connections
    assert set(settings) == {("0", "0")}, settings


def test_a_multi_statement_autocommit_step_is_not_run_again_after_a_statement_committed(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table busy (id int); create table ran (n int)")
    step = (
        "name: two statements\n"
        "sql: |\n"
        "  insert into ran values (1);\n"
        "  alter table busy add column note text\n"
        "autocommit: true\n"
        "lock_timeout: 200ms\n"
        "timeout: 20s"
    )
    plan = write_plan(phased("ddl", [step]))
    with report_open(database) as holder:
        pid = holder.info.backend_pid
        result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err
    assert sql("select n from ran") == [(1,)]  # once, not once per attempt
    assert events_of(sql, "step", "retry") == []
    (failed,) = events_of(sql, "step", "failed")
    assert failed["attempts"] == 1
    assert [b["pid"] for b in failed["blockers"]] == [pid]
    assert "not tried again: 1 statement(s) before it had committed" in failed["error"]
