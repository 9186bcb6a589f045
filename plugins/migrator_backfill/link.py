"""The backfill coordinator's connection: reads that wait at most the step's lock_timeout
for a lock, and are done again on a new connection when the server drops the old one.

Its session waits at most `lock_timeout` (set on connect, reset before the connection
goes back to the pool), and every read is watched (`watch_locks`): behind a session
holding the driving table (`lock table src in access exclusive mode`) a read gives up
after that long, naming the blockers, is tried again after growing pauses (`lock_pause`)
up to the step's `lock_retries` times, each retry told through `retrying` (the Link is
used from the coordinator's thread only, the step's own), then fails the step
(`LinkLocked`) naming them. A stop the operator asks for during a pause is heard.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from migrator import StepContext
from migrator.plugin import (
    StepError,
    StopRequested,
    any_of,
    connect_again,
    lock_pause,
    lock_timeout,
    lost_connection,
    retry,
    set_lock_timeout,
    watch_locks,
)

from .streams import BATCH_BACKOFF, BATCH_RETRIES, Masking, lock_timeout_reason

T = TypeVar("T")

POLL = 0.1  # seconds between looks at a stop request during a pause


class LinkLocked(StepError):
    """A read of the coordinator that did not get its lock within lock_timeout, after all
    its retries. Not a lock timeout itself: the step is not run again (it was retried)."""

    def __init__(self, what: str, error: BaseException, seconds: float, tries: int) -> None:
        self.blockers = list(getattr(error, "blockers", []))
        super().__init__(  # the failed event keeps the blockers (`blockers`)
            f"reading {what} waited for a lock {tries} times, {seconds:g}s each "
            f"(lock_timeout): {error}"
        )


class Link:
    """The coordinator's connection, in autocommit (it never holds a transaction open);
    replaced when the server drops it: everything it does is a read, safe to repeat.

    `retrying(part, attempt, error, pause)` and `stop_requested()` are the step's
    (`StepContext`); `secrets` masks the blockers' queries (anything with `shorten`)."""

    def __init__(
        self,
        db: Any,
        lock_timeout: float = 5.0,
        lock_retries: int = 3,
        *,
        secrets: Any = None,
        retrying: Callable[[str, int, BaseException, float], None] | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self.db = db
        self.lock_timeout = lock_timeout
        self.lock_retries = lock_retries
        self.secrets = secrets
        self.retrying = retrying
        self.stop_requested = stop_requested
        self.conn: Any = None
        self.pid = 0

    @classmethod
    def of(cls, ctx: StepContext) -> Link:
        """The Link of a backfill step: its lock_timeout, retries, secrets, retry reports."""
        return cls(
            ctx.db,
            ctx.lock_timeout,
            ctx.lock_retries,
            secrets=Masking(ctx.shorten),
            retrying=ctx.retrying,
            stop_requested=ctx.stop_requested,
        )

    def call(self, work: Callable[[Any], T], what: str = "the walk") -> T:
        """`work(connection)`'s result; `what` it reads names its retries ("reading ...")."""
        locks = 0
        pause = 0.0

        def once(attempt: int) -> T:
            conn = self._connection()
            with watch_locks(self.db, self.pid, self.secrets, lock_timeout=self.lock_timeout):
                return work(conn)

        def allowed(reason: str | None) -> float:
            if reason == lock_timeout_reason:
                return float("inf") if locks <= self.lock_retries else 0
            return BATCH_RETRIES if reason else 0

        def failed(error: BaseException, reason: str | None) -> None:
            nonlocal locks
            if reason == lock_timeout_reason:
                locks += 1

        def retrying(attempt: int, error: BaseException, reason: str | None, then: float) -> None:
            nonlocal pause
            if reason != lock_timeout_reason:
                pause = then
                self.close()
                return
            pause = lock_pause(self.lock_timeout, locks)
            if self.retrying is not None:
                self.retrying(f"reading {what}", locks, error, pause)

        def give_up(attempt: int, error: BaseException) -> None:
            if lock_timeout(error):
                raise LinkLocked(what, error, self.lock_timeout, locks) from error

        return retry(
            once,
            transient=any_of(lost_connection, lock_timeout),
            retries=allowed,
            backoff=BATCH_BACKOFF,
            on_failure=failed,
            on_retry=retrying,
            on_give_up=give_up,
            wait=lambda _: self._wait(pause),
        )

    def _wait(self, seconds: float) -> bool:
        """Pause `seconds`, hearing a stop the operator asks for (StopRequested)."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if self.stop_requested is not None and self.stop_requested():
                raise StopRequested("stopped while the backfill waited for a lock")
            time.sleep(min(POLL, left))
        return True

    def _connection(self) -> Any:
        if self.conn is None:
            conn = connect_again(self.db)  # waits out a restart, within the window
            try:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                set_lock_timeout(conn, self.lock_timeout, local=False)
                self.pid = int(conn.exec_driver_sql("select pg_backend_pid()").scalar_one())
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.invalidate()
                raise
            self.conn = conn
        return self.conn

    def close(self) -> None:
        """Give the connection back to the pool as it was found: its session's
        lock_timeout reset (or the connection discarded, when that fails)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.exec_driver_sql("reset lock_timeout")
        except Exception:
            with contextlib.suppress(Exception):
                conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()
