"""Streams: connections that run the backfill's batches, each batch one transaction.

A batch runs the plan's statement for its range and merges the range into the
checkpoint in the same transaction (the checkpoint row is locked for that last
moment only), so what is committed and what the checkpoint says never differ.
Transient failures (deadlock, serialization failure, a lost connection) redo the
batch on a new connection with backoff. When the connection is lost, the batch's
transaction id tells whether its commit went through before the retry decides:
a commit whose answer was lost is not run again.

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
from typing import Any

from migrator.runtime import Checkpoint, lock_checkpoint, save_checkpoint
from migrator.sqltext import Statement

from .position import Batch, Position
from .walk import BackfillError

TRANSIENT = {"40P01": "deadlock", "40001": "serialization failure"}
BATCH_RETRIES = 5
SETTLE_WITHIN = 30.0  # seconds to learn whether a batch whose connection was lost committed


@dataclass(frozen=True)
class Done:
    batch: Batch
    seconds: float  # from its first attempt to its commit


@dataclass(frozen=True)
class Retry:
    batch: Batch
    reason: str
    pause: float


@dataclass(frozen=True)
class Failed:
    batch: Batch
    error: BaseException


News = Done | Retry | Failed


class Stopped(Exception):
    """The backfill is stopping: a batch not yet started is not started."""


@dataclass(frozen=True)
class Job:
    """What every batch of one backfill runs, and where it records itself."""

    db: Any  # the SQLAlchemy Engine
    run_id: int
    step: str
    statement: Statement
    variables: dict[str, Any]
    digest: str
    batch_timeout: float | None = None


def transient(exc: BaseException) -> str | None:
    """Why retrying `exc` can help, or None when it cannot."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return "lost connection"
        return TRANSIENT.get(getattr(exc.orig, "sqlstate", None) or "")
    return None


class Stream:
    """One connection running one batch at a time."""

    def __init__(self, job: Job, stop: threading.Event) -> None:
        self.job = job
        self.stop = stop
        self.conn: Any = None
        self.driver: Any = None  # the psycopg connection, to cancel from another thread
        self.pid: int | None = None  # its server process, to end it if it outlives us
        self.xid: int | None = None  # the transaction of the batch in flight

    def run(self, batch: Batch, tell: Any) -> bool:
        """Run `batch` until it is committed (True) or fails for good (False)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                self._commit(batch)
                tell(Done(batch, time.monotonic() - started))
                return True
            except Exception as exc:
                reason = transient(exc)
                error: BaseException = exc
                if reason == "lost connection":
                    self._drop()
                    try:
                        if self._committed_after_all():
                            tell(Done(batch, time.monotonic() - started))
                            return True
                    except Exception as unsure:
                        reason, error = None, unsure
                if reason is None or attempt > BATCH_RETRIES or self.stop.is_set():
                    tell(Failed(batch, error))
                    return False
                pause = min(0.2 * 2 ** (attempt - 1), 5.0)
                tell(Retry(batch, reason, pause))
                if self.stop.wait(pause):
                    tell(Failed(batch, error))
                    return False

    def _connection(self) -> Any:
        if self.conn is None:
            self.conn = self.job.db.connect()
            self.driver = self.conn.connection.driver_connection
            self.pid = None
        return self.conn

    def _commit(self, batch: Batch) -> None:
        job = self.job
        conn = self._connection()
        self.xid = None
        with conn.begin():
            if job.batch_timeout:
                xid = conn.exec_driver_sql(
                    "select txid_current(), pg_backend_pid(), "
                    "set_config('statement_timeout', %(t)s, true)",
                    {"t": f"{int(job.batch_timeout * 1000)}ms"},
                ).first()
            else:
                xid = conn.exec_driver_sql("select txid_current(), pg_backend_pid()", {}).first()
            self.xid, self.pid = int(xid[0]), int(xid[1])
            conn.exec_driver_sql(
                job.statement.driver_sql,
                job.statement.bind({**job.variables, "lo": batch.lo, "hi": batch.hi}),
            )
            point = lock_checkpoint(conn, job.run_id, job.step)
            if point is None:
                raise BackfillError("the checkpoint of this backfill disappeared")
            position = Position.load(point.position).add(batch.lo, batch.hi)
            rows, batches = point.rows_done + batch.rows, point.batches_done + 1
            save_checkpoint(
                conn, job.run_id, job.step, Checkpoint(position.dump(), rows, batches, job.digest)
            )

    def _committed_after_all(self) -> bool:
        """After a lost connection: whether the batch's transaction committed anyway
        (its answer was lost on the way). Waits while the old session still runs it."""
        xid, pid = self.xid, self.pid
        if xid is None:
            return False  # it never started: nothing of it can be committed
        conn = self._connection()
        deadline = time.monotonic() + SETTLE_WITHIN
        ended = False
        while True:
            with conn.begin():
                status = conn.exec_driver_sql(
                    "select txid_status(cast(%(x)s as bigint))", {"x": xid}
                ).scalar()
                if status == "in progress" and pid is not None and not ended:
                    # the old session is alive and still at it: end it, its batch rolls back
                    conn.exec_driver_sql(
                        "select pg_terminate_backend(pid) from pg_stat_activity "
                        "where pid = %(p)s and backend_xid::text = %(x)s",
                        {"p": pid, "x": str(xid & 0xFFFFFFFF)},
                    )
                    ended = True
            if status in ("committed", "aborted"):
                return bool(status == "committed")
            if status is None or time.monotonic() > deadline:
                raise BackfillError(
                    f"cannot tell whether the batch of transaction {xid} committed "
                    f"(status {status}): check the target, then resume"
                )
            time.sleep(0.1)

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

    def __init__(self, job: Job, parallel: int) -> None:
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
            self.streams[0].run(batch, self.news.put)

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
