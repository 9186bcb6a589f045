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

The walk ends at the largest key present when the backfill started (kept in the
checkpoint, so a resume ends there too): rows the application adds meanwhile are its
own to write, and a table that keeps growing cannot keep the walk going forever.
`follow: true` walks on until no key is left. `batch_time` adapts the batch size
(see pace.py); every batch, and every read of the coordinator (see link.py), waits at
most the step's lock_timeout for a lock, and a retry after a lock timeout is reported
from here, the step's own thread, with the blockers (streams only send news).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from migrator import StepContext
from migrator.plugin import (
    Checkpoint,
    StopRequested,
    load_checkpoint,
    lock_timeout,
    read_control,
    save_checkpoint,
    statements,
)

from .link import Link
from .lint import one_statement
from .pace import Pace
from .position import Batch, Planner, Position, Span
from .streams import BatchLocked, Done, Failed, Job, Masking, Retry, Streams, lock_timeout_reason
from .tally import Stats, summary
from .walk import BackfillError, Walk, in_key_order, last, prepare, probe, start, total

__all__ = ["BackfillConfig", "BackfillError", "describe", "preview", "run"]

CONTROL_POLL = 0.5  # seconds between looks at a pause or a throttle query
MAX_PARALLEL = 16


def _seconds(value: Any) -> float:
    from migrator.plugin import parse_duration

    return parse_duration(value)


def _server_seconds(value: Any) -> float:  # a timeout PostgreSQL enforces: at most INT_MAX ms
    from migrator.plugin import parse_duration, server_timeout

    return server_timeout(parse_duration(value))


Seconds = Annotated[float, BeforeValidator(_seconds)]
ServerSeconds = Annotated[float, BeforeValidator(_server_seconds)]


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
    batch_timeout: ServerSeconds | None = Field(None, description="statement timeout of one batch")
    throttle_query: str | None = Field(
        None, description="SQL true while the database is under pressure: wait while it holds"
    )
    follow: bool = Field(
        False,
        description="walk on until no key is left (default: end at the largest key present "
        "when the backfill started; the application writes the rows added after)",
    )
    batch_time: Seconds | None = Field(
        None,
        gt=0,
        description="a target duration per batch: the batch size adapts between 1 and "
        "batch_size so that a batch takes about that long",
    )

    _one = field_validator("statement", "where", "throttle_query")(one_statement)


def describe(step: Any) -> str:
    b = step.backfill
    where = f" where {b.where}" if b.where else ""
    head = f"backfill over {b.table}.{b.key}{where} in batches of {b.batch_size}"
    if b.batch_time:
        head += f" (adapted to take about {b.batch_time:g}s each)"
    if b.parallel > 1:
        head += f", {b.parallel} parallel streams"
    head += ", following new rows" if b.follow else ", up to the largest key at its start"
    return f"{head}:\n{b.statement.strip()}"


def checksum(statement: str) -> str:
    return hashlib.sha256(statement.strip().encode()).hexdigest()


def preview(ctx: StepContext, step: Any) -> str:
    b = step.backfill
    conn = ctx.connection
    walk = prepare(conn, b.table, b.key, b.where, b.statement)
    variables = dict(ctx.variables)
    end = None if b.follow else last(conn, walk)
    rows, estimated = total(conn, walk, variables, end)
    batches = math.ceil(rows / b.batch_size) if rows else 0
    about = "about " if estimated else ""
    lines = [f"{about}{rows:,} rows in {about}{batches:,} batches of {b.batch_size:,}"]
    lo = start(conn, walk)
    if lo is not None:
        first = Pace(b.batch_time).next(b.batch_size) if b.batch_time else b.batch_size
        found = probe(conn, walk, variables, lo, first, end, end is not None)
        if found is not None:
            hi, n = found
            lines.append(
                f"first batch: :lo = {lo!r} (exclusive), :hi = {hi!r} (inclusive), {n} rows"
            )
    if end is not None:
        lines.append(f"the walk ends at key {end!r}, the largest now (follow: false)")
    if b.batch_time:
        lines.append(
            f"batch sizes adapt between 1 and {b.batch_size:,} so that a batch takes about "
            f"{b.batch_time:g}s"
        )
    if b.parallel > 1:
        lines.append(
            f"{b.parallel} parallel streams: {b.parallel} connections run batches at once, "
            "one more hands out their bounds"
        )
    return "\n".join(lines)


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
        end = None if b.follow else last(conn, walk)
        position = Position(lo, end=end) if lo is not None else None
        if position is not None:  # the row every batch merges its range into
            save_checkpoint(conn, ctx.run_id, ctx.step, Checkpoint(position.dump(), 0, 0, digest))
    else:
        position = Position.load(point.position)
        if b.follow:
            position = replace(position, end=None)
        elif position.end is None:  # a checkpoint of an earlier version, or of `follow: true`
            position = replace(position, end=last(conn, walk))
        if point.statement_checksum != digest or position.dump() != point.position:
            # --force: record the statement now run; and the end now walked to
            save_checkpoint(
                conn,
                ctx.run_id,
                ctx.step,
                Checkpoint(position.dump(), point.rows_done, point.batches_done, digest),
            )
    ahead: list[Span] = []
    if position is not None and position.done:
        by_lo = dict(position.done)
        ahead = [(lo, by_lo[lo]) for lo in in_key_order(conn, walk, list(by_lo))]
    end = position.end if position is not None else None
    rows, estimated = total(conn, walk, dict(ctx.variables), end)
    return Start(walk, position, ahead, point, rows, estimated)


def run(ctx: StepContext, step: Any) -> Any:
    b = step.backfill
    assert ctx.db is not None and ctx.run_id is not None and ctx.step is not None
    variables = dict(ctx.variables)
    digest = checksum(b.statement)
    started = time.monotonic()
    stats = Stats(parallel=b.parallel)
    link = Link.of(ctx)
    try:
        begun = link.call(lambda conn: _begin(conn, ctx, b, digest), "the walk's start")
        point, position = begun.resumed, begun.position
        if point is not None and position is not None:
            stats.rows, stats.batches = point.rows_done, point.batches_done
            stats.written = position.written
            beyond = f" and {len(position.done)} ranges beyond it" if position.done else ""
            ctx.say(
                f"  resuming after key {position.key}{beyond} "
                f"({stats.rows:,} rows in {stats.batches} batches, {stats.written:,} written)"
            )
        if position is not None:
            walk = begun.walk

            def find(
                lo: str, size: int, upto: str | None, last: bool = False
            ) -> tuple[str, int] | None:
                return link.call(
                    lambda conn: probe(conn, walk, variables, lo, size, upto, last),
                    f"the end of the batch after key {lo}",
                )

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
                ctx.lock_timeout,
                ctx.lock_retries,
                Masking(ctx.shorten),
            )
            progress = ctx.progress(
                total=begun.total,
                done=stats.rows,
                description=ctx.step,
                estimated=begun.estimated,
                written=stats.written,
                streams=b.parallel,
            )
            try:
                with contextlib.closing(progress):
                    _coordinate(ctx, b, link, planner, job, stats, progress)
            except BaseException:  # how far it got: a failed batch, a stop, Ctrl-C twice
                ctx.say(summary(ctx.step, stats.memo(time.monotonic() - started), stopped=True))
                raise
    finally:
        link.close()
    memo = stats.memo(time.monotonic() - started)
    ctx.say(summary(ctx.step, memo))
    return memo


def _coordinate(
    ctx: StepContext,
    b: BackfillConfig,
    link: Link,
    planner: Planner,
    job: Job,
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

    def heard_retry(news: Retry) -> None:  # in this thread: a stream's retry, before its pause
        stats.retries += 1
        if news.reason == lock_timeout_reason and news.error is not None:
            # recorded in the audit trail and told, with who blocked it
            ctx.retrying(f"batch after key {news.batch.lo}", news.attempt, news.error, news.pause)
            return
        ctx.say(f"  batch after key {news.batch.lo}: {news.reason}, retrying in {news.pause:.1f}s")

    streams = Streams(job, b.parallel, heard_retry)
    pace = Pace(b.batch_time) if b.batch_time else None
    ceiling = b.batch_size
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
                        reason, ceiling = _gate(ctx, link, b)
                        if not reason:
                            batch = planner.next(pace.next(ceiling) if pace else ceiling)
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
                        stats.sized(batch.size)
                        streams.submit(batch)
                        continue
            news = streams.next(timeout)
            if isinstance(news, Done):
                in_flight -= 1
                resting.append(time.monotonic() + (b.throttle or 0.0))
                stats.rows += news.batch.rows
                stats.written += news.written
                stats.batches += 1
                if pace is not None:
                    pace.observe(news.batch.size, news.batch.rows, news.attempt_seconds, ceiling)
                stats.batch_seconds += news.seconds
                stats.slowest = max(stats.slowest, news.seconds)
                progress.advance(news.batch.rows, news.written)
            elif isinstance(news, Retry):
                heard_retry(news)
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
        if lock_timeout(failure):  # retried by the batch already: not again by the engine
            raise BatchLocked(failure, ctx.lock_timeout, ctx.lock_retries) from failure
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

    return link.call(look, "the controls")
