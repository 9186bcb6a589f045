"""Streams: connections that run the backfill's batches, each batch one transaction.

A batch runs the plan's statement for its range and merges the range into the
checkpoint in the same transaction (the checkpoint row is locked for that last
moment only), so what is committed and what the checkpoint says never differ.
Every batch runs under the step's `lock_timeout`, watched (`watch_locks`): a row
lock another session holds makes the batch give up after that long, with the
blockers named (`LockNotGranted`), so that no application write queues behind the
batch for longer; it is tried again after growing pauses (`lock_pause`: at least as
long as the wait, doubling), up to the step's `lock_retries` times. The watcher is a
thread per batch that connects only once the batch has run for a moment (min(0.2 s,
lock_timeout / 2)): a quick batch costs no connection; a slower one borrows one from the
engine's pool while it runs.
Other transient failures (deadlock, serialization failure, a lost connection) redo the
batch on a new connection with backoff (a new connection waits for a restarting server,
see migrator.reconnect). After a lost connection the old session is made sure to be
gone (ended if the server still runs it), and then the checkpoint itself, written in the
batch's own transaction, says whether the batch committed: a commit whose answer was
lost on the way is not run again.

With one stream the batch runs in the calling thread; with more, each stream is a
thread of its own. Streams never print: they send news (a batch done, a retry, a
failure) to the coordinator, which alone talks to the operator.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from migrator.plugin import (
    Backoff,
    Checkpoint,
    Statement,
    StepError,
    Transient,
    any_of,
    conflict,
    connect_again,
    lock_checkpoint,
    lock_pause,
    lock_timeout,
    lost_connection,
    retry,
    save_checkpoint,
    set_lock_timeout,
    watch_locks,
)

from .position import Batch, Position
from .walk import BackfillError

BATCH_RETRIES = 5
BATCH_BACKOFF = Backoff(0.2, 5.0)
SETTLE_WITHIN = 30.0  # seconds for the session of a lost connection to end
lock_timeout_reason = "lock timeout"  # what `lock_timeout` names its failures


@dataclass(frozen=True)
class Done:
    batch: Batch
    seconds: float  # from its first attempt to its commit
    written: int = 0  # the rows the statement reported (its row count)
    attempt_seconds: float = 0.0  # its successful attempt alone: what `batch_time` paces


@dataclass(frozen=True)
class Retry:
    batch: Batch
    reason: str
    pause: float
    attempt: int = 1
    error: BaseException | None = None


@dataclass(frozen=True)
class Failed:
    batch: Batch
    error: BaseException


News = Done | Retry | Failed


class BatchLocked(StepError):
    """A batch that did not get its locks within lock_timeout, after all its retries.

    Not a lock timeout itself: the step is not run again (its batches were retried)."""

    def __init__(self, error: BaseException, seconds: float, retries: int) -> None:
        self.blockers = list(getattr(error, "blockers", []))
        super().__init__(  # the failed event keeps the blockers (`blockers`)
            f"a batch waited for a lock {retries + 1} times, {seconds:g}s each "
            f"(lock_timeout): {error}"
        )


@dataclass(frozen=True)
class Masking:
    """What the lock watcher needs of the run's secrets: its `shorten`."""

    shorten: Any


class Stopped(Exception):
    """The backfill is stopping: a batch not yet started is not started."""


@dataclass(frozen=True)
class Job:
    """What every batch of one backfill runs, and where it records itself."""

    db: Any  # the SQLAlchemy Engine
    run_id: int
    step: str
    statement: Statement
    covers_sql: str  # whether the checkpoint says a range is done (see walk.Walk)
    variables: dict[str, Any]
    digest: str
    batch_timeout: float | None = None
    owner: str | None = None  # the run's owner: a batch commits only while the run is ours
    lock_timeout: float = 5.0  # seconds a batch may wait for a lock (the step's)
    lock_retries: int = 3  # attempts after a lock timeout (the step's)
    secrets: Any = None  # masks the blockers' queries (anything with the run's `shorten`)


transient: Transient = any_of(lost_connection, conflict, lock_timeout)
"""Why retrying a batch can help: a lost connection, a deadlock, a serialization failure,
a lock not granted within the step's lock_timeout."""


class Unsure(Exception):
    """Whether a batch whose connection was lost committed cannot be told: not retried."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Stream:
    """One connection running one batch at a time."""

    def __init__(self, job: Job, stop: threading.Event) -> None:
        self.job = job
        self.stop = stop
        self.conn: Any = None
        self.driver: Any = None  # the psycopg connection, to cancel from another thread
        self.session: tuple[int, datetime] | None = None  # its server process: pid, start

    def run(self, batch: Batch, tell: Any) -> bool:
        """Run `batch` until it is committed (True) or fails for good (False)."""
        started = time.monotonic()
        locks = 0  # lock timeouts so far: they pause by lock_pause, up to lock_retries
        pause = 0.0
        outcome: list[tuple[int, float]] = []  # (rows written, seconds) of the success

        def allowed(reason: str | None) -> float:
            if not reason or self.stop.is_set():
                return 0
            if reason == lock_timeout_reason:
                return float("inf") if locks <= self.job.lock_retries else 0
            return BATCH_RETRIES

        def failed(error: BaseException, reason: str | None) -> None:
            nonlocal locks
            if reason == lock_timeout_reason:
                locks += 1

        def retrying(attempt: int, error: BaseException, reason: str | None, then: float) -> None:
            nonlocal pause  # the pause this retry waits: by lock_pause after a lock timeout
            locked = reason == lock_timeout_reason
            pause = lock_pause(self.job.lock_timeout, locks) if locked else then
            tell(Retry(batch, reason or "", pause, attempt, error))

        try:
            retry(
                lambda attempt: outcome.append(self._attempt(batch)),
                transient=transient,
                retries=allowed,
                backoff=BATCH_BACKOFF,
                on_failure=failed,
                on_retry=retrying,
                wait=lambda _: not self.stop.wait(pause),
            )
        except Exception as exc:
            tell(Failed(batch, exc.error if isinstance(exc, Unsure) else exc))
            return False
        written, seconds = outcome[-1]
        tell(Done(batch, time.monotonic() - started, written, seconds))
        return True

    def _attempt(self, batch: Batch) -> tuple[int, float]:
        """Commit `batch`: (rows written, seconds it took); after a lost connection,
        done if it committed after all (its rows written then unknown: 0)."""
        began = time.monotonic()
        try:
            return self._commit(batch), time.monotonic() - began
        except Exception as exc:
            if lost_connection(exc) is None:
                raise
            lost, self.session = self.session, None
            self._drop()
            try:
                if self.done_after_all(batch, lost):
                    return 0, time.monotonic() - began
            except Exception as unsure:
                raise Unsure(unsure) from exc
            raise

    def _connection(self) -> Any:
        if self.conn is None:
            conn = connect_again(self.job.db)  # waits out a restart, within the window
            try:
                with conn.begin():
                    pid, began = conn.exec_driver_sql(
                        "select pid, backend_start from pg_stat_activity "
                        "where pid = pg_backend_pid()",
                        {},
                    ).one()
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            self.conn, self.session = conn, (int(pid), began)
            self.driver = conn.connection.driver_connection
        return self.conn

    def _commit(self, batch: Batch) -> int:
        """Run `batch` and record it, in one transaction: the rows the statement wrote."""
        job = self.job
        conn = self._connection()
        assert self.session is not None
        with (
            watch_locks(job.db, self.session[0], job.secrets, lock_timeout=job.lock_timeout),
            conn.begin(),
        ):
            set_lock_timeout(conn, job.lock_timeout)
            if job.batch_timeout:
                conn.exec_driver_sql(
                    "select set_config('statement_timeout', %(t)s, true)",
                    {"t": f"{int(job.batch_timeout * 1000)}ms"},
                )
            result = conn.exec_driver_sql(
                job.statement.driver_sql,
                job.statement.bind({**job.variables, "lo": batch.lo, "hi": batch.hi}),
            )
            written = max(int(result.rowcount), 0)  # -1: the statement reports no count
            point = lock_checkpoint(conn, job.run_id, job.step, job.owner)
            if point is None:
                raise BackfillError("the checkpoint of this backfill disappeared")
            position = Position.load(point.position).add(batch.lo, batch.hi, written)
            rows, batches = point.rows_done + batch.rows, point.batches_done + 1
            save_checkpoint(
                conn, job.run_id, job.step, Checkpoint(position.dump(), rows, batches, job.digest)
            )
        return written

    def done_after_all(self, batch: Batch, lost: tuple[int, datetime] | None) -> bool:
        """After the connection of session `lost` (pid, start) was lost running `batch`:
        whether the batch committed anyway, only its answer lost on the way.

        While the old session lives it could still commit: it is ended first (its batch
        then rolls back) and awaited. Then the checkpoint, which each batch writes in its
        own transaction, tells. Sound across a server restart too, where transaction ids
        that never reached the disk are given out again.
        """
        conn = self._connection()
        deadline = time.monotonic() + SETTLE_WITHIN
        ended = False
        while lost is not None:
            pid, began = lost
            with conn.begin():
                if not ended:
                    conn.exec_driver_sql(
                        "select pg_terminate_backend(pid) from pg_stat_activity "
                        "where pid = %(p)s and backend_start = %(s)s",
                        {"p": pid, "s": began},
                    )
                    ended = True
                alive = conn.exec_driver_sql(
                    "select exists (select 1 from pg_stat_activity "
                    "where pid = %(p)s and backend_start = %(s)s)",
                    {"p": pid, "s": began},
                ).scalar()
            if not alive:
                break
            if time.monotonic() > deadline:
                raise BackfillError(
                    f"the session {pid} of a lost connection did not end: cannot tell "
                    f"whether the batch after key {batch.lo} committed; check, then resume"
                )
            time.sleep(0.1)
        job = self.job
        with conn.begin():
            done = conn.exec_driver_sql(
                job.covers_sql,
                {"run": job.run_id, "step": job.step, "lo": batch.lo, "hi": batch.hi},
            ).scalar()
        return bool(done)

    def cancel(self) -> None:
        """Cancel the statement in flight, from another thread (its batch rolls back)."""
        driver = self.driver
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.cancel_safe()

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = self.driver = None

    def close(self) -> None:
        self._drop()


class Streams:
    """`parallel` streams fed batches by one coordinator; their news on one queue."""

    def __init__(self, job: Job, parallel: int, hear: Any = None) -> None:
        """`hear(news)`: with one stream (run in the coordinator's own thread), a retry's
        news is heard at once, before its pause, rather than queued behind the batch."""
        self.hear = hear
        self.news: queue.Queue[News] = queue.Queue()
        self.stop = threading.Event()
        self.streams = [Stream(job, self.stop) for _ in range(parallel)]
        self.tasks: queue.Queue[Batch | None] = queue.Queue()
        self.threads: list[threading.Thread] = []
        if parallel > 1:
            for n, stream in enumerate(self.streams, 1):
                thread = threading.Thread(
                    target=self._serve, args=(stream,), name=f"backfill-stream-{n}", daemon=True
                )
                thread.start()
                self.threads.append(thread)

    def submit(self, batch: Batch) -> None:
        if self.threads:
            self.tasks.put(batch)
        else:
            self.streams[0].run(batch, self._tell)

    def _tell(self, news: News) -> None:
        if isinstance(news, Retry) and self.hear is not None:
            self.hear(news)
        else:
            self.news.put(news)

    def next(self, timeout: float | None) -> News | None:
        """The next piece of news; None when there was none within `timeout` seconds."""
        try:
            return self.news.get(timeout=timeout)
        except queue.Empty:
            return None

    def _serve(self, stream: Stream) -> None:
        while (batch := self.tasks.get()) is not None:
            if self.stop.is_set():
                self.news.put(Failed(batch, Stopped("the backfill is stopping")))
                continue
            try:
                stream.run(batch, self.news.put)
            except BaseException as exc:  # reported to the coordinator, which raises it
                self.news.put(Failed(batch, exc))

    def close(self, *, cancel: bool = False) -> None:
        """End the streams; with `cancel`, roll back the batches in flight first."""
        if cancel:
            self.stop.set()
            for stream in self.streams:
                stream.cancel()
        for _ in self.threads:
            self.tasks.put(None)
        for thread in self.threads:
            thread.join(timeout=30)
        for n, stream in enumerate(self.streams):
            if not self.threads or not self.threads[n].is_alive():  # never under a live thread
                stream.close()
