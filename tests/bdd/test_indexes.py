"""Scenarios of features/indexes, run for real against PostgreSQL."""

from __future__ import annotations

import shlex
import signal
from typing import Any

import psycopg
from pytest_bdd import given, parsers, scenarios

from tests.processes import sigkill, spawn, wait_for

scenarios("indexes")


def _waiting_build(dsn: str, table: str) -> int | None:
    """The pid of a concurrent index build of `table` waiting for old transactions."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select pid from pg_stat_progress_create_index "
            "where relid = to_regclass(%s) and phase like 'waiting for%%'",
            (table,),
        ).fetchone()
    return int(row[0]) if row else None


@given(
    parsers.parse(
        '"{command}" was killed while its index build on "{table}" waited for an old transaction'
    )
)
def _(command: str, table: str, world: dict[str, Any]) -> None:
    dsn = world["dsn"]
    with psycopg.connect(dsn) as old:  # wrote to the table, still open: the build waits
        old.execute(f"lock table {table} in row exclusive mode")  # type: ignore[arg-type]
        proc = spawn(*shlex.split(command)[1:], "--dsn", dsn)  # in the scenario's folder
        try:
            wait_for(lambda: _waiting_build(dsn, table) is not None, proc=proc)
            build = _waiting_build(dsn, table)
        finally:
            assert sigkill(proc) == -signal.SIGKILL
        with psycopg.connect(dsn, autocommit=True) as admin:  # as the server would, soon
            admin.execute("select pg_terminate_backend(%s)", (build,))
            gone = "select count(*) from pg_stat_activity where pid = %s"
            wait_for(lambda: admin.execute(gone, (build,)).fetchone() == (0,))
        old.rollback()
