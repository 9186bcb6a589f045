"""The application, the blocker and the batch watch of benchmarks/live_traffic.py.

`App`: N connections writing short single-row transactions at a fixed total rate, every
write timed from its start to its commit (monotonic clock). `Blocker`: a session that
takes a lock and keeps it for a fixed time after the work first waits on it. `Batches`:
the checkpoint of a running backfill, read every few milliseconds (no trigger, nothing
added to the backfill's transactions), so that the starts of its batches are known.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import psycopg

HOT_SHARE = 0.25  # of the updates: to the hot rows (the first keys)
INSERT_SHARE = 0.25  # of the writes: a new row
UPDATE_SQL = (
    "update accounts set balance = balance + 1, balance_cents = (balance + 1) * 100, "
    "updated_at = now() where id = %s"
)
INSERT_SQL = "insert into accounts (owner, balance, balance_cents) values (%s, 0, 0)"


@dataclass(frozen=True)
class Write:
    kind: str  # "update" or "insert"
    start: float  # time.monotonic()
    end: float
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Latency:
    """The writes in flight during a window: their count, p50, p99, longest (seconds)."""

    writes: int
    errors: int
    p50: float
    p99: float
    longest: float

    @staticmethod
    def of(writes: list[Write], start: float, end: float) -> Latency:
        inside = [w for w in writes if w.start <= end and w.end >= start]
        seconds = sorted(w.seconds for w in inside)
        if not seconds:
            return Latency(0, 0, 0.0, 0.0, 0.0)

        def rank(p: float) -> float:  # nearest rank
            return seconds[max(0, min(len(seconds) - 1, round(p * len(seconds) + 0.5) - 1))]

        errors = sum(1 for w in inside if w.error)
        return Latency(len(seconds), errors, rank(0.50), rank(0.99), seconds[-1])


class App:
    """`connections` threads, each on its own connection, `rate` writes a second in all.

    Each thread keeps a fixed schedule (its writes `connections / rate` seconds apart,
    the threads staggered); a write whose time has passed (the thread was stalled) starts
    at once. Three writes in four update one row (a quarter of them one of the first
    `hot_rows` keys, the rest any row of the first `rows`), one in four inserts a row.
    Rows in `avoid` (the blocker's) are never written.
    """

    def __init__(
        self,
        dsn: str,
        *,
        connections: int,
        rate: float,
        rows: int,
        hot_rows: int,
        avoid: frozenset[int] = frozenset(),
        seed: int = 17,
    ) -> None:
        self.rate, self.rows, self.hot_rows, self.avoid = rate, rows, hot_rows, avoid
        self.stopping = threading.Event()
        self.writes: list[Write] = []
        self.lock = threading.Lock()
        self.conns = [
            psycopg.connect(dsn, application_name="live-traffic app") for _ in range(connections)
        ]
        self.pids = frozenset(c.info.backend_pid for c in self.conns)
        self.threads = [
            threading.Thread(target=self._serve, args=(n, seed + n), daemon=True)
            for n in range(connections)
        ]

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def stop(self) -> list[Write]:
        self.stopping.set()
        for thread in self.threads:
            thread.join()
        for conn in self.conns:
            conn.close()
        return sorted(self.writes, key=lambda w: w.start)

    def _row(self, rng: random.Random) -> int:
        while True:
            top = self.hot_rows if rng.random() < HOT_SHARE else self.rows
            row = rng.randint(1, max(top, 1))
            if row not in self.avoid:
                return row

    def _serve(self, n: int, seed: int) -> None:
        conn, rng = self.conns[n], random.Random(seed)
        interval = len(self.conns) / self.rate
        due = self.started + n / self.rate
        while not self.stopping.is_set():
            pause = due - time.monotonic()
            if pause > 0 and self.stopping.wait(pause):
                break
            due += interval
            kind = "insert" if rng.random() < INSERT_SHARE else "update"
            error = None
            start = time.monotonic()
            try:
                if kind == "insert":
                    conn.execute(INSERT_SQL, (f"app {n}",))
                else:
                    conn.execute(UPDATE_SQL, (self._row(rng),))
                conn.commit()
            except psycopg.Error as exc:
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                conn.rollback()
            end = time.monotonic()
            with self.lock:
                self.writes.append(Write(kind, start, end, error))


class Blocker(threading.Thread):
    """A session that runs `statements` (the first opens a transaction, which takes the
    lock) and keeps its transaction open `hold` seconds after another session (not the
    application's) is first seen waiting on it, or until `release()`."""

    POLL = 0.02

    def __init__(self, dsn: str, statements: list[str], hold: float, ignore: frozenset[int]):
        super().__init__(daemon=True)
        self.dsn, self.statements, self.hold, self.ignore = dsn, statements, hold, ignore
        self.holding = threading.Event()
        self.released = threading.Event()
        self.error: BaseException | None = None
        self.first_wait: float | None = None  # monotonic: when the work was first seen waiting
        self.let_go: float | None = None  # monotonic: when it ended its transaction

    def run(self) -> None:
        try:
            with (
                psycopg.connect(
                    self.dsn, autocommit=True, application_name="live-traffic blocker"
                ) as conn,
                psycopg.connect(self.dsn, autocommit=True) as watch,
            ):
                for statement in self.statements:
                    conn.execute(statement.encode())  # the benchmark's own text
                pid = conn.info.backend_pid
                self.holding.set()
                while not self.released.is_set():
                    now = time.monotonic()
                    if self.first_wait is not None and now >= self.first_wait + self.hold:
                        break
                    if self.first_wait is None:
                        waiting = watch.execute(
                            "select pid from pg_stat_activity "
                            "where %s = any(pg_blocking_pids(pid)) and pid <> all(%s)",
                            (pid, list(self.ignore)),
                        ).fetchall()
                        if waiting:
                            self.first_wait = now
                    self.released.wait(self.POLL)
                conn.execute("rollback")
                self.let_go = time.monotonic()
        except BaseException as exc:
            self.error = exc
            self.holding.set()

    def release(self) -> None:
        self.released.set()
        self.join()

    @property
    def held(self) -> float | None:
        """Seconds it held its lock after the work first waited on it (None: never waited)."""
        if self.first_wait is None or self.let_go is None:
            return None
        return self.let_go - self.first_wait


class Batches(threading.Thread):
    """The checkpoint row of plan `plan`'s backfill, read every `poll` seconds.

    A batch commits together with the checkpoint, whose `updated_at = now()` is the start
    of the batch's transaction: each new `batches_done` seen gives the start of one batch
    and the rows done so far. With one stream, the time from a batch's start to the next
    one's is the batch's duration plus the moment the walk takes to find the next bound.
    """

    def __init__(self, dsn: str, plan: str, poll: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.dsn, self.plan, self.poll = dsn, plan, poll
        self.seen: dict[int, tuple[int, datetime]] = {}  # batches done: rows done, start
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopping.wait(self.poll):
                try:
                    for batches, rows, at in conn.execute(
                        "select c.batches_done, c.rows_done, c.updated_at "
                        "from migrator.checkpoints c join migrator.runs r on r.id = c.run_id "
                        "where r.plan = %s",
                        (self.plan,),
                    ):
                        self.seen.setdefault(int(batches), (int(rows), at))
                except psycopg.errors.UndefinedTable:
                    pass  # the migrator schema is not made yet

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def periods(self) -> list[tuple[int, float]]:
        """(rows, seconds from its start to the next batch's start) of every batch whose
        own record and the next one's were both seen, in order."""
        out = []
        for n in sorted(self.seen):
            before = self.seen.get(n - 1, (0, None) if n == 1 else None)
            if n >= 1 and before is not None and n + 1 in self.seen:
                rows = self.seen[n][0] - before[0]
                seconds = (self.seen[n + 1][1] - self.seen[n][1]).total_seconds()
                out.append((rows, seconds))
        return out

    @property
    def read(self) -> int:
        """Batches whose record was read (the checkpoint's first record is no batch's)."""
        return sum(1 for n in self.seen if n >= 1)

    @property
    def missed(self) -> int:
        """Batches whose record was overwritten before it was read."""
        return max(self.seen, default=0) - self.read
