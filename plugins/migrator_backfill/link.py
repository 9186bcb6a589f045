"""The backfill coordinator's connection: reads that are done again on a new connection
when the server drops the old one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from migrator.plugin import connect_again, lost_connection, retry

from .streams import BATCH_BACKOFF, BATCH_RETRIES

T = TypeVar("T")


class Link:
    """The coordinator's connection, in autocommit (it never holds a transaction open);
    replaced when the server drops it: everything it does is a read, safe to repeat."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.conn: Any = None

    def call(self, work: Callable[[Any], T]) -> T:
        def once(attempt: int) -> T:
            if self.conn is None:
                conn = connect_again(self.db)  # waits out a restart, within the window
                self.conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            return work(self.conn)

        return retry(
            once,
            transient=lost_connection,
            retries=BATCH_RETRIES,
            backoff=BATCH_BACKOFF,
            on_retry=lambda attempt, error, reason, pause: self.close(),
        )

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
