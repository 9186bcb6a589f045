"""Who is blocking a step: watched from a second connection while the step waits.

When DDL gives up after `lock_timeout`, its own session no longer waits, so
the sessions that blocked it can only be seen while it is waiting. A watcher
thread starts polling `pg_blocking_pids()` of the step's backend once the step
has run for a moment; a quick step never opens the second connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from migrator.masking import Secrets

# What pg_stat_activity keeps of a query (track_activity_query_size, 1024 by default): a
# query this long or longer may have been cut by the server, perhaps inside a secret.
SERVER_CUT = 1023

FIRST_LOOK = 0.2  # seconds before the watcher connects: most steps are done by then
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
        who = f"pid {self.pid} ({self.user or '?'}, {self.state or '?'}{since})"
        return f"{who}: {query}" if query else who

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class LockWatch:
    """`with LockWatch(db, backend_pid) as watch:` ... `watch.blockers` once it waited."""

    def __init__(self, db: Engine, backend_pid: int, secrets: Secrets | None = None) -> None:
        self.db = db
        self.backend_pid = backend_pid
        self.secrets = secrets or Secrets()
        self.blockers: list[Blocker] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="migrator-lockwatch", daemon=True)

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
        if self._stop.wait(FIRST_LOOK):
            return
        try:
            with self.db.connect() as conn:
                while not self._stop.is_set():
                    rows = conn.execute(
                        text(
                            "select pid, usename, application_name, state, "
                            "extract(epoch from now() - xact_start)::float8, query "
                            "from pg_stat_activity where pid = any(pg_blocking_pids(:pid))"
                        ),
                        {"pid": self.backend_pid},
                    ).all()
                    conn.rollback()
                    if rows:
                        self.blockers = [self._blocker(*r) for r in rows]
                    self._stop.wait(INTERVAL)
        except Exception:  # watching is best effort: the step's own error is what matters
            return
