"""The `backfill` action: a keyset walk over the driving table, one batch per transaction.

For each batch a cheap bound query finds the batch's last key (an index range
scan of `batch_size` keys), the plan's statement runs with `:lo` (exclusive) and
`:hi` (inclusive), and the checkpoint is written in the same transaction, so a
killed run resumes exactly after the last committed batch. Keys are never loaded
into Python: memory stays flat whatever the table's size.
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
from migrator.runtime import Checkpoint, load_checkpoint, read_control, save_checkpoint
from migrator.sqltext import Statement, statements

TRANSIENT = {"40P01": "deadlock", "40001": "serialization failure"}
BATCH_RETRIES = 5
CONTROL_POLL = 0.5  # seconds between looks at a pause or a throttle query
EXACT_COUNT_BELOW = 2_000_000  # estimated rows under which counting exactly is cheap


def _seconds(value: Any) -> float:
    from migrator.plan.fields import parse_duration

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
    where: str | None = Field(None, description="filters the driving rows")
    throttle: Seconds | None = Field(None, description="a pause between batches")
    max_rate: float | None = Field(None, gt=0, description="rows per second at most")
    batch_timeout: Seconds | None = Field(None, description="statement timeout of one batch")
    throttle_query: str | None = Field(
        None, description="SQL true while the database is under pressure: wait while it holds"
    )


class BackfillError(Exception):
    """A backfill that cannot go on (a changed statement, a key of an unusable type)."""


def describe(step: Any) -> str:
    b = step.backfill
    where = f" where {b.where}" if b.where else ""
    head = f"backfill over {b.table}.{b.key}{where} in batches of {b.batch_size}"
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


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Walk:
    """The keyset walk of one backfill: its SQL, prepared once."""

    table_sql: str
    key_sql: str
    key_type: str
    bound: Statement  # the last key of a full batch
    tail: Statement  # the last key and size of the final, partial batch
    statement: Statement
    count_sql: str


def _walk(conn: Any, b: BackfillConfig) -> Walk:
    row = conn.exec_driver_sql(
        "select n.nspname, c.relname, format_type(a.atttypid, a.atttypmod) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "left join pg_attribute a on a.attrelid = c.oid and a.attname = %(k)s "
        "and not a.attisdropped where c.oid = to_regclass(%(t)s)",
        {"t": b.table, "k": b.key},
    ).first()
    if row is None:
        raise BackfillError(f"table {b.table} does not exist")
    if row[2] is None:
        raise BackfillError(f"table {b.table} has no column {b.key}")
    table_sql = f"{quote_ident(row[0])}.{quote_ident(row[1])}"
    key_sql = quote_ident(b.key)
    where = f" and ({b.where})" if b.where else ""
    after = f"from {table_sql} where {key_sql} > :lo{where}"
    # An index range scan of batch_size keys, no aggregate: works for every orderable key.
    (bound,) = statements(
        # named apart from the key, so that ORDER BY sorts by the column, not by its text
        f"select {key_sql}::text as bound {after} order by {key_sql} offset :batch_rows - 1 limit 1"
    )
    (tail,) = statements(
        f"select (select {key_sql}::text as bound {after} order by {key_sql} desc limit 1), "
        f"(select count(*) {after})"
    )
    found = statements(b.statement)
    if len(found) != 1:
        raise BackfillError("the backfill statement must be one SQL statement")
    count_sql = f"select count(*) from {table_sql}" + (f" where ({b.where})" if b.where else "")
    return Walk(table_sql, key_sql, str(row[2]), bound, tail, found[0], count_sql)


_INTEGERS = {"smallint", "integer", "bigint"}
_NUMBERS = {"numeric", "real", "double precision"}


def _start(conn: Any, walk: Walk) -> str | None:
    """A key below every key of the table: the exclusive bound of the first batch."""
    kind = walk.key_type.split("(")[0].strip()
    first = f"from {walk.table_sql} order by {walk.key_sql} limit 1"
    smallest = conn.exec_driver_sql(f"select {walk.key_sql}::text as bound {first}", {}).scalar()
    if smallest is None:
        return None  # an empty table: nothing to do
    if kind in _INTEGERS or kind.startswith("numeric") or kind in _NUMBERS:
        try:
            below = conn.exec_driver_sql(
                f"select ({walk.key_sql} - 1)::text as bound {first}", {}
            ).scalar()
        except Exception as exc:
            raise BackfillError(f"cannot start below the smallest key {smallest}") from exc
        return str(below)
    if kind == "uuid":
        start = "00000000-0000-0000-0000-000000000000"
    elif kind in ("text", "character varying", "character", "name", "citext"):
        start = ""
    elif kind.startswith("timestamp") or kind == "date":
        return "-infinity"
    else:
        raise BackfillError(
            f"the key {walk.key_sql} is of type {walk.key_type}: use an integer, numeric, "
            "uuid, text, date or timestamp key"
        )
    if smallest == start:
        raise BackfillError(f"the smallest key is {start!r}: nothing sorts below it")
    return start


def _total(conn: Any, walk: Walk, variables: dict[str, Any]) -> tuple[int, bool]:
    """(rows, estimated): an exact count when cheap, else the planner's estimate."""
    import json

    (count,) = statements(walk.count_sql)
    explain = conn.exec_driver_sql(
        "explain (format json) " + count.driver_sql, count.bind(variables)
    ).scalar()
    plan = explain[0]["Plan"] if not isinstance(explain, str) else json.loads(explain)[0]["Plan"]
    estimate = int(plan.get("Plans", [plan])[0].get("Plan Rows", plan.get("Plan Rows", 0)))
    if estimate < EXACT_COUNT_BELOW:
        exact = conn.exec_driver_sql(count.driver_sql, count.bind(variables)).scalar()
        return int(exact or 0), False
    return estimate, True


def _bound(
    conn: Any, walk: Walk, variables: dict[str, Any], lo: str, size: int
) -> tuple[str, int] | None:
    """The last key of the batch after `lo`, and its number of rows; None when done."""
    params = {**variables, "lo": lo, "batch_rows": size}
    hi = conn.exec_driver_sql(walk.bound.driver_sql, walk.bound.bind(params)).scalar()
    if hi is not None:
        return str(hi), size
    hi, rows = conn.exec_driver_sql(walk.tail.driver_sql, walk.tail.bind(params)).one()
    return (str(hi), int(rows)) if hi is not None else None


def preview(ctx: StepContext, step: Any) -> str:
    b = step.backfill
    conn = ctx.connection
    walk = _walk(conn, b)
    rows, estimated = _total(conn, walk, dict(ctx.variables))
    batches = math.ceil(rows / b.batch_size) if rows else 0
    about = "about " if estimated else ""
    lines = [f"{about}{rows:,} rows in {about}{batches:,} batches of {b.batch_size:,}"]
    lo = _start(conn, walk)
    if lo is not None:
        found = _bound(conn, walk, dict(ctx.variables), lo, b.batch_size)
        if found is not None:
            hi, n = found
            lines.append(
                f"first batch: :lo = {lo!r} (exclusive), :hi = {hi!r} (inclusive), {n} rows"
            )
    return "\n".join(lines)


@dataclass
class Stats:
    rows: int = 0
    batches: int = 0
    failed_batches: int = 0
    retries: int = 0
    slowest: float = 0.0
    batch_seconds: float = 0.0
    resumed_at: int = 0  # rows already done by an earlier process

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
        }


def _transient(exc: BaseException) -> str | None:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return "lost connection"
        return TRANSIENT.get(getattr(exc.orig, "sqlstate", None) or "")
    return None


def run(ctx: StepContext, step: Any) -> Any:
    b = step.backfill
    assert ctx.db is not None and ctx.run_id is not None and ctx.step is not None
    variables = dict(ctx.variables)
    digest = checksum(b.statement)
    started = time.monotonic()
    stats = Stats()
    conn = ctx.db.connect()
    try:
        with conn.begin():
            walk = _walk(conn, b)
            point = load_checkpoint(conn, ctx.run_id, ctx.step)
            if point is not None and point.statement_checksum != digest and not ctx.force:
                raise BackfillError(
                    "the statement changed since the checkpoint of this run: check the change, "
                    "then resume with --force"
                )
            lo = point.position["key"] if point is not None else _start(conn, walk)
            total, estimated = _total(conn, walk, variables)
        if point is not None:
            stats.rows, stats.batches = point.rows_done, point.batches_done
            stats.resumed_at = point.rows_done
            ctx.say(f"  resuming after key {lo} ({stats.rows:,} rows in {stats.batches} batches)")
        progress = ctx.progress(
            total=total, done=stats.rows, description=ctx.step, estimated=estimated
        )
        try:
            while lo is not None:
                size = _wait_for_go(ctx, conn, b, progress)
                batch_started = time.monotonic()
                done, conn = _one_batch(ctx, conn, walk, b, lo, size, variables, digest, stats)
                if done is None:
                    break
                lo, rows = done
                took = time.monotonic() - batch_started
                stats.batch_seconds += took
                stats.slowest = max(stats.slowest, took)
                progress.advance(rows)
                _pace(b, stats, started)
        finally:
            progress.close()
    finally:
        conn.close()
    memo = stats.memo(time.monotonic() - started)
    ctx.say(
        f"  backfill {ctx.step}: {memo['rows']:,} rows in {memo['batches']} batches, "
        f"{memo['failed_batches']} failed, {memo['retries']} retries, {memo['seconds']}s; "
        f"mean batch {memo['mean_batch_seconds']}s, slowest {memo['slowest_batch_seconds']}s"
    )
    return memo


def _one_batch(
    ctx: StepContext,
    conn: Any,
    walk: Walk,
    b: BackfillConfig,
    lo: str,
    size: int,
    variables: dict[str, Any],
    digest: str,
    stats: Stats,
) -> tuple[tuple[str, int] | None, Any]:
    """Run one batch and commit it with its checkpoint; retry transient failures.

    Returns ((hi, rows) or None when the walk is over, the connection to go on with).
    """
    assert ctx.run_id is not None and ctx.step is not None
    attempt = 0
    while True:
        attempt += 1
        try:
            with conn.begin():
                if b.batch_timeout:
                    conn.exec_driver_sql(
                        "select set_config('statement_timeout', %(t)s, true)",
                        {"t": f"{int(b.batch_timeout * 1000)}ms"},
                    )
                found = _bound(conn, walk, variables, lo, size)
                if found is None:
                    return None, conn
                hi, rows = found
                conn.exec_driver_sql(
                    walk.statement.driver_sql,
                    walk.statement.bind({**variables, "lo": lo, "hi": hi}),
                )
                point = Checkpoint({"key": hi}, stats.rows + rows, stats.batches + 1, digest)
                save_checkpoint(conn, ctx.run_id, ctx.step, point)
            stats.rows += rows
            stats.batches += 1
            return (hi, int(rows)), conn
        except Exception as exc:
            reason = _transient(exc)
            stats.failed_batches += 1
            if reason is None or attempt > BATCH_RETRIES:
                raise
            stats.retries += 1
            if reason == "lost connection":
                with contextlib.suppress(Exception):
                    conn.close()
                assert ctx.db is not None
                conn = ctx.db.connect()
            pause = min(0.2 * 2 ** (attempt - 1), 5.0)
            ctx.say(f"  batch after key {lo}: {reason}, retrying in {pause:.1f}s")
            time.sleep(pause)


def _wait_for_go(ctx: StepContext, conn: Any, b: BackfillConfig, progress: Any) -> int:
    """Between batches: hold while paused or while the throttle query says so.

    Returns the batch size to use next (an operator may have changed it).
    """
    waiting_for = ""
    while True:
        with conn.begin():
            control = read_control(conn, ctx.plan)
            pressure = False
            if not control.paused and b.throttle_query:
                (query,) = statements(b.throttle_query)
                pressure = bool(
                    conn.exec_driver_sql(query.driver_sql, query.bind(ctx.variables)).scalar()
                )
        reason = "paused" if control.paused else ("the throttle query holds" if pressure else "")
        if not reason:
            if waiting_for:
                progress.status("running")
            return control.batch_size or b.batch_size
        if reason != waiting_for:
            waiting_for = reason
            progress.status(reason)
        time.sleep(CONTROL_POLL)


def _pace(b: BackfillConfig, stats: Stats, started: float) -> None:
    if b.throttle:
        time.sleep(b.throttle)
    if b.max_rate:
        ahead = (stats.rows - stats.resumed_at) / b.max_rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
