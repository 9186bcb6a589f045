"""A plan's lock: a session-level advisory lock held for a run's whole life.

The lock lives on a connection of its own, so a killed process (whose
connections the server closes) never leaves it behind. Beside it, a row in
`migrator.locks` says who holds it, so that a second operator is told whom to
ask (written and read by `migrator.state.locks`).
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from contextlib import suppress
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from migrator.db.reconnect import connect_again
from migrator.db.sessions import (
    TransactionPooling,
    lock_pids,
    lock_pinned,
    release_lock,
    require_pinned,
)
from migrator.errors import ExitCode, MigratorError
from migrator.state.locks import Holder, forget_holder, read_holder, record_holder
from migrator.state.runs import get_run, owner_of, owns_run, take_run

__all__ = [
    "Holder",
    "LockHeld",
    "LockLost",
    "PlanLock",
    "RunTakenOver",
    "lock_backend",
    "lock_holder",
    "lock_key",
]


def lock_key(plan: str) -> int:
    """The advisory lock key of a plan: 64 bits of SHA-256 of its name."""
    digest = hashlib.sha256(f"migrator:{plan}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LockHeld(MigratorError):
    """Another run holds the plan's lock."""

    exit_code = ExitCode.LOCKED

    def __init__(self, plan: str, holder: Holder | None) -> None:
        self.plan = plan
        self.holder = holder
        who = str(holder) if holder else "held by another session (no holder recorded)"
        super().__init__(f"plan {plan} is locked: {who}")


class LockLost(MigratorError):
    """The run's lock went with its connection, and another session holds it now."""

    exit_code = ExitCode.LOCKED

    def __init__(self, plan: str, run_id: int | None, holder: Holder | None) -> None:
        who = str(holder) if holder else "held by another session"
        super().__init__(
            f"run {run_id} of plan {plan} lost its lock (the connection holding it was "
            f"closed), and the lock is now {who}: the run stopped before doing more; "
            "see `migrator status`"
        )


class RunTakenOver(MigratorError):
    """Another process took this process's run over (resumed, rolled back or unlocked it)
    while this one was cut off: it runs nothing more."""

    exit_code = ExitCode.LOCKED

    def __init__(self, plan: str, run_id: int, status: str | None, by: str | None) -> None:
        who = by or "another process"
        now = f" (it is {status} now)" if status else ""
        super().__init__(
            f"run {run_id} of plan {plan} was taken over by {who} while this process was cut "
            f"off from the database{now}: this process stopped and ran nothing more; "
            "see `migrator status`"
        )


def taken_over(conn: Connection, plan: str, run_id: int) -> RunTakenOver:
    """The error telling that run `run_id` is no longer this process's, naming who has it."""
    run = get_run(conn, run_id)
    return RunTakenOver(plan, run_id, run.status if run else None, owner_of(conn, run_id))


class PlanLock:
    """`with PlanLock(engine, plan, operator):` holds the plan's lock or raises LockHeld."""

    def __init__(self, engine: Engine, plan: str, operator: str) -> None:
        self.engine = engine
        self.plan = plan
        self.operator = operator
        self.key = lock_key(plan)
        self.connection: Connection | None = None
        self.run_id: int | None = None
        # the token of this process's ownership of the runs it takes (`migrator.runs.owner`)
        self.owner = str(uuid.uuid4())
        self.owned_by = f"{operator} on {socket.gethostname()} (pid {os.getpid()})"

    def __enter__(self) -> PlanLock:
        """Take the lock, on a connection that keeps its server session (else exit 2:
        checked before the lock is taken, and again after, before anything is written)."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            require_pinned(self.engine, conn)
            got, pid = conn.execute(
                text("select pg_try_advisory_lock(:k), pg_backend_pid()"), {"k": self.key}
            ).one()
            if not got:
                raise LockHeld(self.plan, read_holder(conn, self.plan))
            if not lock_pinned(conn, self.key):
                evidence = "the plan's lock was not held by the session that took it"
                if not release_lock(conn, self.key, pid):
                    evidence += f"; server session {pid} may hold it until the pooler closes it"
                raise TransactionPooling(evidence)
        except BaseException:
            conn.close()
            raise
        self.connection = conn
        return self

    def ensure_held(self) -> bool:
        """Whether the lock is still held as it was (its session seen in `pg_locks`); after
        its connection was lost, take it again (False), or raise LockLost when another
        session took it meanwhile, and RunTakenOver when the lock was free again but the
        run is no longer ours (resumed, rolled back or unlocked by another process)."""
        from sqlalchemy.exc import SQLAlchemyError

        assert self.connection is not None
        try:
            if lock_pinned(self.connection, self.key):
                return True
        except SQLAlchemyError:  # lost with its connection (or closed after a loss before)
            pass
        with suppress(Exception):
            self.connection.close()
        conn = connect_again(self.engine).execution_options(isolation_level="AUTOCOMMIT")
        if not conn.execute(text("select pg_try_advisory_lock(:k)"), {"k": self.key}).scalar():
            holder = read_holder(conn, self.plan)
            conn.close()
            self.connection = None
            raise LockLost(self.plan, self.run_id, holder)
        if self.run_id is not None and not owns_run(conn, self.run_id, self.owner):
            lost = taken_over(conn, self.plan, self.run_id)  # autocommit: no row stays locked
            with suppress(Exception):
                conn.execute(text("select pg_advisory_unlock(:k)"), {"k": self.key})
            conn.close()
            self.connection = None
            raise lost
        self.connection = conn
        self.record_holder(self.run_id)
        return False

    def own(self, run_id: int) -> None:
        """Take run `run_id`: this process owns it from now on (whoever owned it before
        changes it no more), and the lock's holder row names it."""
        assert self.connection is not None
        take_run(self.connection, run_id, self.owner, self.owned_by)
        self.record_holder(run_id)

    def record_holder(self, run_id: int | None) -> None:
        """Write who holds the lock (after schema `migrator` exists)."""
        assert self.connection is not None
        self.run_id = run_id
        record_holder(self.connection, self.plan, run_id, self.operator)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self.connection
        self.connection = None
        if conn is None:
            return
        try:
            forget_holder(conn, self.plan)
            conn.execute(text("select pg_advisory_unlock(:k)"), {"k": self.key})
        except Exception:  # the connection is gone: the server released the lock with it
            pass
        finally:
            conn.close()


def lock_backend(conn: Connection, plan: str) -> int | None:
    """The backend (its pid) that holds the plan's lock now, read from `pg_locks`: the
    lock itself is never tried, so that looking never stands in a run's way (and,
    through a pooler in transaction mode, never leaves it on a server session)."""
    holders = lock_pids(conn, lock_key(plan))
    return holders[0] if holders else None


def lock_holder(engine: Engine, plan: str) -> tuple[bool, Holder | None]:
    """Whether the plan's lock is held right now, and by whom if that is recorded.

    Only reads (`pg_locks`, `migrator.locks`): a concurrent `apply` never finds the lock
    taken by someone who merely looked.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        backend = lock_backend(conn, plan)
        if backend is None:
            return False, None
        return True, read_holder(conn, plan, backend)
