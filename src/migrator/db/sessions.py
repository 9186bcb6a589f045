"""Server sessions: whether a connection keeps its own, and who holds an advisory lock.

Through a pooler in transaction mode (PgBouncer `pool_mode = transaction`, Supabase's
port 6543) each transaction of a client may run on another server session, and a server
session serves other clients between them: a session-level advisory lock (the plan's
lock), a `SET` and a prepared statement do not hold. A command that holds the plan's lock
calls `require_pinned` first, before it writes anything, and stops with exit 2.

Three signs, read in a few round trips that change nothing on the server:

- the server session (`pg_backend_pid()`) of one connection changes between two of its
  transactions;
- a second connection, open at the same time, is served by the same server session
  (a pooler that reuses its last server first, as PgBouncer does, shows this at once);
- the plan's lock, taken by a connection, is not held by that connection's server
  session in its next transaction (`lock_pinned`).

A session-mode pooler gives each client a server session of its own for as long as it is
connected: none of the signs shows, and migrator works through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "TransactionPooling",
    "lock_pids",
    "lock_pinned",
    "release_lock",
    "require_pinned",
    "reset_session",
]

_RELEASE_TRIES = 8


class TransactionPooling(UsageError):
    """The connection goes through a pooler in transaction mode (exit 2)."""

    def __init__(self, evidence: str) -> None:
        super().__init__(
            f"the connection goes through a pooler in transaction mode ({evidence}): "
            "the plan's lock and session settings do not hold there, so nothing was done; "
            "use a direct connection or a pooler in session mode (PgBouncer "
            "pool_mode = session; Supabase: port 5432 instead of 6543)"
        )


def backend_pid(conn: Connection) -> int:
    """The process id of the server session that runs this connection's transaction."""
    from sqlalchemy import text

    return int(conn.execute(text("select pg_backend_pid()")).scalar_one())


def require_pinned(engine: Engine, conn: Connection | None = None) -> None:
    """Raise TransactionPooling unless `conn` (else a new connection) keeps its server
    session between transactions and shares it with no other connection.

    `conn` must be in AUTOCOMMIT (each statement its own transaction)."""
    if conn is None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
            require_pinned(engine, own)
        return
    first = backend_pid(conn)
    second = backend_pid(conn)
    if first != second:
        raise TransactionPooling("its server session changed between two transactions")
    with engine.connect() as other:
        shared = backend_pid(other) == first
        other.rollback()
    if shared:
        raise TransactionPooling("two connections were served by one server session")


# What a unit (a step, an undo) may have left in its server session: settings (`SET
# search_path`, `SET ROLE`, `SET SESSION AUTHORIZATION`), prepared statements, cursors,
# LISTENs, temporary tables (one would hide a table of the same name from the next step,
# and a resumed run, on a new session, would not have it). Not DISCARD ALL: it would also
# release the session's advisory locks.
_RESET = (
    "set session authorization default; reset all; deallocate all; close all; unlisten *; "
    "discard temp"
)


def reset_session(conn: Connection) -> None:
    """Put the server session of `conn` back in the state it started in (see `_RESET`),
    so that every unit starts from the same session state. Inside a transaction it
    commits, or rolls back, with it."""
    conn.exec_driver_sql(_RESET)


def _key_parts(key: int) -> dict[str, int]:
    """pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF}


_HOLDERS = """
    select pid from pg_locks
    where locktype = 'advisory' and granted and objsubid = 1
      and classid = cast(:hi as bigint)::oid and objid = cast(:lo as bigint)::oid
      and database = (select oid from pg_database where datname = current_database())
"""


def lock_pids(conn: Connection, key: int) -> list[int]:
    """The server sessions holding the session-level advisory lock `key` in this database."""
    from sqlalchemy import text

    rows = conn.execute(text(_HOLDERS), _key_parts(key)).scalars()
    return sorted(int(pid) for pid in rows)


def lock_pinned(conn: Connection, key: int) -> bool:
    """Whether this connection's server session holds the advisory lock `key` (one
    statement, so one server session answers even through a pooler)."""
    from sqlalchemy import text

    sql = f"select pg_backend_pid() in ({_HOLDERS})"
    return bool(conn.execute(text(sql), _key_parts(key)).scalar())


def release_lock(conn: Connection, key: int, pid: int) -> bool:
    """Unlock `key`, taken by server session `pid`, from `conn` (AUTOCOMMIT), even when
    a pooler hands `conn` another session: unlock only on `pid`, try a few transactions.
    Whether `pid` no longer holds it."""
    from sqlalchemy import text

    unlock = text("select case when pg_backend_pid() = :pid then pg_advisory_unlock(:k) end")
    for _ in range(_RELEASE_TRIES):
        conn.execute(unlock, {"pid": pid, "k": key})
        if pid not in lock_pids(conn, key):
            return True
    return False
