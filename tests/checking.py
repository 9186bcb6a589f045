"""What the tests of checks that read the database share: a SQLAlchemy connection to a
test database, and work done in a transaction exactly as a check's (read only, one
snapshot, under the guard of `migrator.db.checksql`), rolled back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from migrator.db.checksql import GUARD_KEY, CheckGuard


@contextmanager
def connection_to(dsn: str) -> Iterator[Connection]:
    """A SQLAlchemy connection (on psycopg) to the database of `dsn`."""
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def as_a_check(conn: Connection, role: str | None, work: Any) -> Any:
    """`work(conn)` in a transaction as a check's: read only, one snapshot, guarded; the
    guard's verdict asserted clean after."""
    with conn.begin() as tx:
        conn.execute(text("set transaction isolation level repeatable read"))
        conn.execute(text("set transaction read only"))
        conn.execute(text("set local standard_conforming_strings = on"))
        if role:
            conn.execute(text(f"set local role {role}"))
        guard = CheckGuard(str(conn.execute(text("select current_user")).scalar()), True)
        conn.info[GUARD_KEY] = guard
        try:
            return work(conn)
        finally:
            conn.info.pop(GUARD_KEY, None)
            tx.rollback()
            assert guard.violation is None, guard.violation


def with_policies(dsn: str, schema: str, pairs: list[tuple[str, str]]) -> str:
    """The database of `dsn` made Supabase-like, with `schema` and a policy `p<n>` on table
    `docs` for each (plan's text, policy's USING) pair, USING the second; its DSN."""
    from migrator.demo import sql_text

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql_text("supabase.sql"))
        conn.execute(schema)
        for number, (_, created) in enumerate(pairs):
            conn.execute(f"create policy p{number} on docs using ({created})")
    return dsn
