"""`migrator.locks`: who holds a plan's lock (the advisory lock itself is the engine's)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from migrator.state.schema import table_exists
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Holder:
    run_id: int | None
    operator: str
    host: str
    pid: int
    since: datetime
    backend_pid: int | None = None  # the session that holds the advisory lock

    def __str__(self) -> str:
        run = f"run {self.run_id}" if self.run_id is not None else "a run"
        return (
            f"held by {run} of {self.operator} on {self.host} (pid {self.pid}) "
            f"since {self.since:%Y-%m-%d %H:%M:%S %Z}".rstrip()
        )


def record_holder(conn: Connection, plan: str, run_id: int | None, operator: str) -> None:
    """Write that this process, on the session of `conn`, holds the plan's lock."""
    conn.execute(
        text(
            "insert into migrator.locks (plan, run_id, operator, host, pid, backend_pid) "
            "values (:p, :r, :op, :h, :pid, pg_backend_pid()) on conflict (plan) do update "
            "set run_id = excluded.run_id, operator = excluded.operator, host = excluded.host, "
            "pid = excluded.pid, backend_pid = excluded.backend_pid, acquired_at = now()"
        ),
        {"p": plan, "r": run_id, "op": operator, "h": socket.gethostname(), "pid": os.getpid()},
    )


def forget_holder(conn: Connection, plan: str) -> None:
    """Remove the holder row the session of `conn` wrote for the plan (if the table exists)."""
    if table_exists(conn, "locks"):
        conn.execute(
            text("delete from migrator.locks where plan = :p and backend_pid = pg_backend_pid()"),
            {"p": plan},
        )


def read_holder(conn: Connection, plan: str, backend: int | None = None) -> Holder | None:
    """Who holds the plan's lock, if the holder row is there and its session is alive
    (`backend`: the session known to hold the lock; then only its row counts)."""
    if not table_exists(conn, "locks"):
        return None
    row = conn.execute(
        text(
            "select l.run_id, l.operator, l.host, l.pid, l.acquired_at, l.backend_pid "
            "from migrator.locks l join pg_stat_activity a on a.pid = l.backend_pid "
            "where l.plan = :p and (cast(:b as integer) is null or l.backend_pid = :b)"
        ),
        {"p": plan, "b": backend},
    ).first()
    return Holder(*row) if row else None
