"""The guard on a check's connection (migrator.db.checksql.CheckGuard), as any plugin
meets it through the public `execute`: what a check may not send is refused before it
reaches the server, and a statement that ended the transaction or changed the role is
caught right after it ran."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from migrator.db.checksql import GUARD_KEY, CheckGuard, CheckSqlRefused
from migrator.plugin import execute, fetch_rows, run_as
from tests.helpers import query


@pytest.fixture
def conn(database: str) -> Iterator[Connection]:
    query(database, "create table t (id int); insert into t values (1), (2)")
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def _guarded(conn: Connection, *, read_only: bool) -> CheckGuard:
    user = conn.exec_driver_sql("select current_user", {}).scalar_one()
    guard = conn.info[GUARD_KEY] = CheckGuard(str(user), read_only=read_only)
    return guard


def test_a_commit_is_refused_before_it_is_sent(conn: Connection, database: str) -> None:
    with conn.begin() as tx:
        guard = _guarded(conn, read_only=False)
        try:
            with pytest.raises(CheckSqlRefused, match="refused before it ran: COMMIT"):
                execute(conn, "delete from t; commit; delete from t", {})
            # once refused, the check sends nothing more
            with pytest.raises(CheckSqlRefused):
                execute(conn, "select 1", {})
        finally:
            conn.info.pop(GUARD_KEY)
            tx.rollback()
    assert guard.violation is not None
    assert query(database, "select count(*) from t") == [(2,)]


def test_a_transaction_ended_behind_the_guard_is_caught(conn: Connection) -> None:
    with conn.begin() as tx:
        guard = _guarded(conn, read_only=False)
        try:
            conn.exec_driver_sql("commit", {})  # not through execute: as a function could not
            with pytest.raises(CheckSqlRefused, match="ended the check's transaction"):
                guard.after(conn)
        finally:
            conn.info.pop(GUARD_KEY)
            tx.rollback()


def test_a_role_changed_in_a_statement_is_caught_after_it(conn: Connection, database: str) -> None:
    query(
        database,
        "create function become(r text) returns int language plpgsql as "
        "$$ begin perform set_config('role', r, true); return 1; end $$",
    )
    query(
        database,
        "do $$ begin create role guard_other nologin; "
        "exception when duplicate_object then null; end $$",
    )
    with conn.begin() as tx:
        _guarded(conn, read_only=True)
        conn.exec_driver_sql("set transaction read only", {})
        try:
            with pytest.raises(CheckSqlRefused, match=r"changed the role from .* to guard_other"):
                execute(conn, "select become('guard_other'); select 1", {})
        finally:
            conn.info.pop(GUARD_KEY)
            tx.rollback()


def test_run_as_quotes_the_role_and_the_guard_follows_it(conn: Connection, database: str) -> None:
    query(
        database,
        'do $$ begin create role "Public" nologin; '
        "exception when duplicate_object then null; end $$",
    )
    with conn.begin() as tx:
        guard = _guarded(conn, read_only=False)
        try:
            run_as(conn, "Public")
            assert guard.user == "Public"
            rows: list[Any] = list(fetch_rows(conn, "select current_user", {}))
            assert rows == [("Public",)]
        finally:
            conn.info.pop(GUARD_KEY)
            tx.rollback()


@pytest.mark.parametrize(
    "sql",
    [
        "create rule r as on insert to t do also (delete from t; delete from t)",
        "create function f() returns int language sql begin atomic delete from t; end",
        "select 1; delete from t where id in (select 1; commit",
    ],
)
def test_a_statement_going_on_past_a_semicolon_is_refused_before_it_is_sent(
    conn: Connection, database: str, sql: str
) -> None:
    """A `;` the splitter keeps inside a statement (a BEGIN ATOMIC body, rule actions, an
    unclosed parenthesis) is a definition, or text the server would read otherwise: a
    writing check's guard refuses it before it is sent, so nothing hides behind it."""
    with conn.begin() as tx:
        _guarded(conn, read_only=False)
        try:
            with pytest.raises(CheckSqlRefused, match="a `;` inside parentheses"):
                execute(conn, sql, {})
        finally:
            conn.info.pop(GUARD_KEY)
            tx.commit()  # were anything sent, it would stay
    assert query(database, "select count(*) from t") == [(2,)]
    assert query(database, "select count(*) from pg_proc where proname = 'f'") == [(0,)]
    assert query(database, "select count(*) from pg_rewrite where rulename = 'r'") == [(0,)]
