"""The `backfill` action: a keyset walk over the driving table, one batch per transaction.

One coordinator (the step's own thread, on a connection of its own) walks the
driving table in key order. Before each batch it reads the live controls (pause,
batch size), waits while the throttle query holds, paces `max_rate` and the
`throttle` rest, and finds the batch's last key with a cheap index probe (see
walk.py). It hands the range `(lo, hi]` to one of `parallel` streams (see
streams.py), which runs the plan's statement with `:lo` (exclusive) and `:hi`
(inclusive) and commits it together with the batch's own record in the checkpoint
(see position.py): a killed run resumes exactly, whichever batches had committed,
with no row twice and no row missed. Keys never travel into Python, except the
bounds of batches: memory stays flat whatever the table's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from migrator import StepContext
from migrator.plugin import (
    Checkpoint,
    StopRequested,
    load_checkpoint,
    read_control,
    save_checkpoint,
    statements,
)

from .link import Link
from .position import Batch, Planner, Position, Span
from .streams import Done, Failed, Job, Retry, Streams
from .walk import BackfillError, Walk, in_key_order, prepare, probe, start, total

__all__ = ["BackfillConfig", "BackfillError", "describe", "lint", "preview", "run"]

CONTROL_POLL = 0.5  # seconds between looks at a pause or a throttle query
MAX_PARALLEL = 16


def _seconds(value: Any) -> float:
    from migrator.plugin import parse_duration

    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_seconds)]


class BackfillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(..., min_length=1, description="the driving table")
    key: str = Field(..., min_length=1, description="unique, indexed, orderable column")
    statement: str = Field(
        ..., min_length=1, description="run per batch with :lo (exclusive) and :hi (inclusive)"
    )
    batch_size: int = Field(5000, gt=0, le=10_000_000)
    parallel: int = Field(
        1,
        ge=1,
        le=MAX_PARALLEL,
        description="streams: connections running batches at once (one more finds their bounds)",
    )
    where: str | None = Field(None, description="filters the driving rows")
    throttle: Seconds | None = Field(None, description="a pause between batches (of each stream)")
    max_rate: float | None = Field(
        None, gt=0, description="rows per second at most (all streams together)"
    )
    batch_timeout: Seconds | None = Field(None, description="statement timeout of one batch")
    throttle_query: str | None = Field(
        None, description="SQL true while the database is under pressure: wait while it holds"
    )


def describe(step: Any) -> str:
    b = step.backfill
    where = f" where {b.where}" if b.where else ""
    head = f"backfill over {b.table}.{b.key}{where} in batches of {b.batch_size}"
    if b.parallel > 1:
        head += f", {b.parallel} parallel streams"
    return f"{head}:\n{b.statement.strip()}"


def lint(step: Any) -> list[str]:
    """An insert that is not idempotent runs twice on a retried batch: say so."""
    text = _strip_comments(step.backfill.statement).lower()
    if re.search(r"\binsert\b", text) and "on conflict" not in text:
        return [
            "the statement inserts without ON CONFLICT: a batch that is retried or resumed "
            "could insert its rows twice"
        ]
    return []


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def checksum(statement: str) -> str:
    return hashlib.sha256(statement.strip().encode()).hexdigest()


def preview(ctx: StepContext, step: Any) -> str:
    b = step.backfill
    conn = ctx.connection
    walk = prepare(conn, b.table, b.key, b.where, b.statement)
    variables = dict(ctx.variables)
    rows, estimated = total(conn, walk, variables)
    batches = math.ceil(rows / b.batch_size) if rows else 0
    about = "about " if estimated else ""
    lines = [f"{about}{rows:,} rows in {about}{batches:,} batches of {b.batch_size:,}"]
    lo = start(conn, walk)
    if lo is not None:
        found = probe(conn, walk, variables, lo, b.batch_size)
        if found is not None:
            hi, n = found
            lines.append(
                f"first batch: :lo = {lo!r} (exclusive), :hi = {hi!r} (inclusive), {n} rows"
            )
    if b.parallel > 1:
        lines.append(
            f"{b.parallel} parallel streams: {b.parallel} connections run batches at once, "
            "one more hands out their bounds"
        )
    return "\n".join(lines)


@dataclass
class Stats:
    parallel: int = 1
    rows: int = 0
    batches: int = 0
    failed_batches: int = 0
    retries: int = 0
    slowest: float = 0.0
    batch_seconds: float = 0.0

    def memo(self, seconds: float) -> dict[str, Any]:
        mean = self.batch_seconds / self.batches if self.batches else 0.0
        return {
            "rows": self.rows,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "retries": self.retries,
            "seconds": round(seconds, 3),
            "mean_batch_seconds": round(mean, 4),
            "slowest_batch_seconds": round(self.slowest, 4),
            "parallel": self.parallel,
        }


@dataclass
class Start:
    """Where a backfill starts: its walk, position, and the ranges already done ahead."""

    walk: Walk
    position: Position | None  # None: the driving table is empty
    ahead: list[Span]  # done ranges beyond the mark, in key order
    resumed: Checkpoint | None
    total: int
    estimated: bool


def _begin(conn: Any, ctx: StepContext, b: BackfillConfig, digest: str) -> Start:
    assert ctx.run_id is not None and ctx.step is not None
    walk = prepare(conn, b.table, b.key, b.where, b.statement)
    point = load_checkpoint(conn, ctx.run_id, ctx.step)
    if point is not None and point.statement_checksum != digest and not ctx.force:
        raise BackfillError(
            "the statement changed since the checkpoint of this run: check the change, "
            "then resume with --force"
        )
    if point is None:
        lo = start(conn, walk)
        position = Position(lo) if lo is not None else None
        if position is not None:  # the row every batch merges its range into
            save_checkpoint(conn, ctx.run_id, ctx.step, Checkpoint(position.dump(), 0, 0, digest))
    else:
        position = Position.load(point.position)
        if point.statement_checksum != digest:  # --force: record the statement now run
            save_checkpoint(
                conn,
                ctx.run_id,
                ctx.step,
                Checkpoint(point.position, point.rows_done, point.batches_done, digest),
            )
    ahead: list[Span] = []
    if position is not None and position.done:
        by_lo = dict(position.done)
        ahead = [(lo, by_lo[lo]) for lo in in_key_order(conn, walk, list(by_lo))]
    rows, estimated = total(conn, walk, dict(ctx.variables))
    return Start(walk, position, ahead, point, rows, estimated)


def run(ctx: StepContext, step: Any) -> Any:
    b = step.backfill
    assert ctx.db is not None and ctx.run_id is not None and ctx.step is not None
    variables = dict(ctx.variables)
    digest = checksum(b.statement)
    started = time.monotonic()
    stats = Stats(parallel=b.parallel)
    link = Link(ctx.db)
    try:
        begun = link.call(lambda conn: _begin(conn, ctx, b, digest))
        point, position = begun.resumed, begun.position
        if point is not None and position is not None:
            stats.rows, stats.batches = point.rows_done, point.batches_done
            beyond = f" and {len(position.done)} ranges beyond it" if position.done else ""
            ctx.say(
                f"  resuming after key {position.key}{beyond} "
                f"({stats.rows:,} rows in {stats.batches} batches)"
            )
        if position is not None:
            walk = begun.walk

            def find(lo: str, size: int, upto: str | None) -> tuple[str, int] | None:
                return link.call(lambda conn: probe(conn, walk, variables, lo, size, upto))

            planner = Planner(position, begun.ahead, find)
            job = Job(
                ctx.db,
                ctx.run_id,
                ctx.step,
                walk.statement,
                walk.covers_sql,
                variables,
                digest,
                b.batch_timeout,
                ctx.owner,
            )
            progress = ctx.progress(
                total=begun.total, done=stats.rows, description=ctx.step, estimated=begun.estimated
            )
            try:
                with contextlib.closing(progress):
                    _coordinate(ctx, b, link, planner, Streams(job, b.parallel), stats, progress)
            except BaseException:  # how far it got: a failed batch, a stop, Ctrl-C twice
                _sum_up(ctx, stats.memo(time.monotonic() - started), stopped=True)
                raise
    finally:
        link.close()
    memo = stats.memo(time.monotonic() - started)
    _sum_up(ctx, memo)
    return memo


def _sum_up(ctx: StepContext, memo: dict[str, Any], stopped: bool = False) -> None:
    """The line a backfill ends with. `failed` counts the batches given up on (a failed
    backfill stops at the first); `retries` the attempts redone after a transient error."""
    retries = f"{memo['retries']} {'retry' if memo['retries'] == 1 else 'retries'}"
    streams = f"; {memo['parallel']} parallel streams" if memo["parallel"] > 1 else ""
    ctx.say(
        f"  backfill {ctx.step}{' stopped' if stopped else ''}: {memo['rows']:,} rows in "
        f"{memo['batches']} batches, {memo['failed_batches']} failed, {retries}, "
        f"{memo['seconds']}s; mean batch {memo['mean_batch_seconds']}s, "
        f"slowest {memo['slowest_batch_seconds']}s{streams}"
    )


def _coordinate(
    ctx: StepContext,
    b: BackfillConfig,
    link: Link,
    planner: Planner,
    streams: Streams,
    stats: Stats,
    progress: Any,
) -> None:
    """Hand out batches to the streams until the walk is over; take in their news.

    A stream's failure stops the handing out: the batches in flight finish (each
    commits whole with its record, or rolls back whole), then the failure is raised.
    So does a stop the operator asked for (`ctx.stop_requested()`, a first SIGINT or
    SIGTERM), then StopRequested is raised: the step is resumed from its checkpoint.
    An interruption at once (a second Ctrl-C) cancels the batches in flight: they roll back.
    """
    started = time.monotonic()
    resting = [0.0] * b.parallel  # per idle stream: when it may take its next batch
    in_flight = 0
    handed_rows = 0
    over = stopping = False
    failure: BaseException | None = None
    waiting_for = ""
    try:
        while True:
            timeout: float | None = None
            if over or stopping or failure is not None:
                if not in_flight:
                    break
            elif ctx.stop_requested():
                stopping = True  # no batch more: the ones in flight finish
                continue
            elif in_flight < b.parallel:
                now = time.monotonic()
                hold = min(resting) - now
                if b.max_rate:
                    hold = max(hold, handed_rows / b.max_rate - (now - started))
                if hold > 0:
                    timeout = hold
                else:
                    batch: Batch | None = None
                    try:
                        reason, size = _gate(ctx, link, b)
                        if not reason:
                            batch = planner.next(size)
                    except Exception as exc:
                        failure = exc
                        continue
                    if reason != waiting_for:
                        if reason or waiting_for:
                            progress.status(reason or "running")
                        waiting_for = reason
                    if reason:
                        timeout = CONTROL_POLL
                    elif batch is None:
                        over = True
                        continue
                    else:
                        resting.remove(min(resting))
                        in_flight += 1
                        handed_rows += batch.rows
                        streams.submit(batch)
                        continue
            news = streams.next(timeout)
            if isinstance(news, Done):
                in_flight -= 1
                resting.append(time.monotonic() + (b.throttle or 0.0))
                stats.rows += news.batch.rows
                stats.batches += 1
                stats.batch_seconds += news.seconds
                stats.slowest = max(stats.slowest, news.seconds)
                progress.advance(news.batch.rows)
            elif isinstance(news, Retry):
                stats.retries += 1
                ctx.say(
                    f"  batch after key {news.batch.lo}: {news.reason}, "
                    f"retrying in {news.pause:.1f}s"
                )
            elif isinstance(news, Failed):
                in_flight -= 1
                resting.append(time.monotonic())
                stats.failed_batches += 1
                failure = failure or news.error
    except BaseException:
        streams.close(cancel=True)
        raise
    streams.close()
    if failure is not None:
        raise failure
    if stopping:
        raise StopRequested(
            f"stopped between two batches of step {ctx.step}, after {stats.batches} batches"
        )


def _gate(ctx: StepContext, link: Link, b: BackfillConfig) -> tuple[str, int]:
    """Whether a batch may go now: ("", the batch size to use), or (why it waits, 0)."""

    def look(conn: Any) -> tuple[str, int]:
        control = read_control(conn, ctx.plan, ctx.run_id)
        if control.paused:
            return "paused", 0
        if b.throttle_query:
            (query,) = statements(b.throttle_query)
            if conn.exec_driver_sql(query.driver_sql, query.bind(ctx.variables)).scalar():
                return "the throttle query holds", 0
        return "", control.batch_size or b.batch_size

    return link.call(look)
