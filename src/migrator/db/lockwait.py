"""Waiting for locks: at most `lock_timeout`, and naming who made the wait.

Every statement migrator sends on behalf of a step (a transactional step, an
autocommit one, a backfill batch, an undo) runs under the step's `lock_timeout`
(`set_lock_timeout`), so that no application write queues behind it for longer.

When a statement gives up after `lock_timeout`, its own session no longer waits, so
the sessions that blocked it can only be seen while it is waiting. A watcher
thread (`LockWatch`) starts polling `pg_blocking_pids()` of the waiting backend once
the work has run for a moment; quick work never opens the second connection.
`watch_locks` wraps it: a lock not granted in time is raised as `LockNotGranted`,
which names the blockers (pid, user, application, state, how long, query).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from migrator.db.failures import error_text, is_lock_timeout
from migrator.masking import Secrets

if TYPE_CHECKING:  # SQLAlchemy is loaded when a lock is first waited for, not on import
    from sqlalchemy.engine import Connection, Engine

DEFAULT_LOCK_TIMEOUT = 5.0  # seconds (SPEC: "default 5s"); see docs/performance.md

# What pg_stat_activity keeps of a query (track_activity_query_size, 1024 by default): a
# query this long or longer may have been cut by the server, perhaps inside a secret.
SERVER_CUT = 1023

FIRST_LOOK = 0.2  # seconds before the watcher connects: most work is done by then
INTERVAL = 0.1


@dataclass(frozen=True)
class Blocker:
    pid: int
    user: str | None
    application: str | None
    state: str | None
    seconds_in_transaction: float | None
    query: str | None

    def __str__(self) -> str:
        since = (
            f", in a transaction for {self.seconds_in_transaction:.1f}s"
            if self.seconds_in_transaction is not None
            else ""
        )
        query = (self.query or "").strip().replace("\n", " ")
        if len(query) > 160:
            query = query[:157] + "..."
        about = [self.application] if self.application else []
        about += [self.user or "?", self.state or "?"]
        who = f"pid {self.pid} ({', '.join(about)}{since})"
        return f"{who}: {query}" if query else who

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, detail: dict[str, Any]) -> Blocker:
        """A blocker as an event recorded it (`as_dict`); what is missing is unknown."""
        fields: dict[str, Any] = {k: detail.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)


class LockNotGranted(Exception):
    """A lock was not granted within `lock_timeout`; names the sessions that held it.

    Read like the driver error it wraps (`orig`, SQLSTATE 55P03): whatever retries a lock
    timeout retries this too."""

    def __init__(self, error: BaseException, blockers: list[Blocker]) -> None:
        self.error = error
        self.blockers = blockers
        names = "; ".join(str(b) for b in blockers)
        super().__init__(f"{error_text(error)} — blocked by {names}")

    @property
    def orig(self) -> Any:
        return getattr(self.error, "orig", None)


def set_lock_timeout(conn: Connection, seconds: float, *, local: bool = True) -> None:
    """Make statements on `conn` wait at most `seconds` for a lock: for the transaction
    under way (`local`), or for the session (reset it after: `reset_session`)."""
    from sqlalchemy import text

    conn.execute(
        text("select set_config('lock_timeout', :v, :local)"),
        {"v": f"{max(1, int(seconds * 1000))}ms", "local": local},
    )


@contextmanager
def watch_locks(
    db: Engine,
    backend_pid: int,
    secrets: Secrets | None = None,
    *,
    lock_timeout: float = 0.0,
    gated: bool = False,
) -> Iterator[LockWatch]:
    """Watch backend `backend_pid` while the block runs; a lock timeout raised in it
    comes out as `LockNotGranted` naming who blocked it (when the watcher saw them).

    `lock_timeout` (seconds), when known, makes the watcher look early enough to see
    the blockers of a short wait. `gated`: look only between `statement_started` and
    `statement_ended` (work that mostly waits for something else: a person, a timer)."""
    first_look = min(FIRST_LOOK, lock_timeout / 2) if lock_timeout > 0 else FIRST_LOOK
    with LockWatch(db, backend_pid, secrets, first_look=first_look, gated=gated) as watch:
        try:
            yield watch
        except Exception as exc:
            if is_lock_timeout(exc) and watch.blockers and not isinstance(exc, LockNotGranted):
                raise LockNotGranted(exc, watch.blockers) from exc
            raise


class LockWatch:
    """`with LockWatch(db, backend_pid) as watch:` ... `watch.blockers` once it waited."""

    def __init__(
        self,
        db: Engine,
        backend_pid: int,
        secrets: Secrets | None = None,
        *,
        first_look: float = FIRST_LOOK,
        gated: bool = False,
    ) -> None:
        self.db = db
        self.backend_pid = backend_pid
        self.secrets = secrets or Secrets()
        self.first_look = first_look
        self.blockers: list[Blocker] = []
        self._stop = threading.Event()
        # gated: the backend is looked at only while a statement runs on it
        # (`statement_started`/`statement_ended`); else all the while
        self._busy_since: float | None = None if gated else time.monotonic()
        self._wake = threading.Event()  # a statement started, or the watch ends
        self._thread = threading.Thread(target=self._watch, name="migrator-lockwatch", daemon=True)

    def statement_started(self) -> None:
        """A statement was sent on the watched backend: watch it (after `first_look`)."""
        self.blockers = []  # whoever blocked an earlier statement does not block this one
        self._busy_since = time.monotonic()
        self._wake.set()

    def statement_ended(self) -> None:
        """The statement ended: nothing to watch until the next one (its blockers stay
        known, for the error it may have raised)."""
        self._busy_since = None

    def __enter__(self) -> LockWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _blocker(self, *row: Any) -> Blocker:
        """A blocker with its query masked before anything cuts it (the server may have:
        then the start of a secret left at its end is dropped too)."""
        pid, user, application, state, seconds, query = row
        if query is not None:
            query = self.secrets.shorten(
                query, len(query) + 1, keep="head", partial=len(query) >= SERVER_CUT
            )
        return Blocker(pid, user, application, state, seconds, query)

    def _watch(self) -> None:
        """Look while a statement has run for `first_look`; connect only then (work that
        sends no statement, or only quick ones, never opens the second connection)."""
        from sqlalchemy import text

        conn: Connection | None = None
        try:
            while not self._stop.is_set():
                since = self._busy_since
                if since is None:  # no statement under way: sleep until one starts
                    self._wake.wait()
                    self._wake.clear()
                    continue
                due = since + self.first_look - time.monotonic()
                if due > 0:
                    self._stop.wait(due)
                    continue
                if conn is None:
                    conn = self.db.connect()
                rows = conn.execute(
                    text(
                        "select pid, usename, application_name, state, "
                        "extract(epoch from now() - xact_start)::float8, query "
                        "from pg_stat_activity where pid = any(pg_blocking_pids(:pid))"
                    ),
                    {"pid": self.backend_pid},
                ).all()
                conn.rollback()
                if rows and self._busy_since is not None:
                    self.blockers = [self._blocker(*r) for r in rows]
                self._stop.wait(INTERVAL)
        except Exception:  # watching is best effort: the work's own error is what matters
            return
        finally:
            if conn is not None:
                with suppress(Exception):
                    conn.close()
