"""`migrator.progress`: how far a long step of a run is, as its process last wrote it.

The process running a long step (a backfill: any step that reports `ctx.progress`)
writes one row per step of its run, at most about once a second and whenever what it
waits for changes, on a connection of its own and never inside a batch's transaction:
losing a write loses nothing but a moment of `migrator status`. A second terminal reads
it (`read_progress`), with the rate and time left computed from its `samples` over the
same recent window the progress bar uses (`migrator.views.rate.RateWindow`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from migrator.state.schema import table_exists
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class StepProgress:
    """One long step's progress as recorded.

    `rows_total`: None when the step does not know it; `estimated`: the total is the
    planner's estimate. `rows_written`: None when the step does not count writes apart.
    `streams`: how many batches run at once (None: not said). `waiting`: what it waits
    for now ("" when it is working: "paused", "the throttle query holds", ...).
    `samples`: recent (seconds since the epoch, rows done) pairs, oldest first.
    `last_batch_at`: when rows were last added; `updated_at`: when the row was written.
    """

    run_id: int
    step: str
    rows_done: int
    rows_total: int | None = None
    estimated: bool = False
    rows_written: int | None = None
    streams: int | None = None
    waiting: str = ""
    samples: tuple[tuple[float, int], ...] = field(default_factory=tuple)
    started_at: datetime | None = None
    last_batch_at: datetime | None = None
    updated_at: datetime | None = None


def record_progress(conn: Connection, progress: StepProgress) -> None:
    """Write the step's progress (insert the row the first time, replace it after)."""
    conn.execute(
        text(
            "insert into migrator.progress (run_id, step, rows_done, rows_total, estimated, "
            "rows_written, streams, waiting, samples, last_batch_at) values "
            "(:run, :step, :done, :total, :estimated, :written, :streams, :waiting, "
            "cast(:samples as jsonb), :last_batch_at) "
            "on conflict (run_id, step) do update set rows_done = excluded.rows_done, "
            "rows_total = excluded.rows_total, estimated = excluded.estimated, "
            "rows_written = excluded.rows_written, streams = excluded.streams, "
            "waiting = excluded.waiting, samples = excluded.samples, "
            "last_batch_at = coalesce(excluded.last_batch_at, migrator.progress.last_batch_at), "
            "updated_at = now()"
        ),
        {
            "run": progress.run_id,
            "step": progress.step,
            "done": progress.rows_done,
            "total": progress.rows_total,
            "estimated": progress.estimated,
            "written": progress.rows_written,
            "streams": progress.streams,
            "waiting": progress.waiting,
            "samples": json.dumps([[round(t, 3), n] for t, n in progress.samples]),
            "last_batch_at": progress.last_batch_at,
        },
    )


def read_progress(conn: Connection, run_id: int) -> list[StepProgress]:
    """Every recorded step progress of run `run_id`, the most recently written first
    (none on a schema older than the table)."""
    if not table_exists(conn, "progress"):
        return []
    rows = conn.execute(
        text(
            "select run_id, step, rows_done, rows_total, estimated, rows_written, streams, "
            "waiting, samples, started_at, last_batch_at, updated_at "
            "from migrator.progress where run_id = :run order by updated_at desc, step"
        ),
        {"run": run_id},
    ).all()
    return [_progress(row) for row in rows]


def _progress(row: Any) -> StepProgress:
    samples = tuple(
        (float(t), int(n))
        for t, n in (row[8] or [])
        if isinstance(t, int | float) and isinstance(n, int)
    )
    return StepProgress(
        run_id=int(row[0]),
        step=str(row[1]),
        rows_done=int(row[2]),
        rows_total=None if row[3] is None else int(row[3]),
        estimated=bool(row[4]),
        rows_written=None if row[5] is None else int(row[5]),
        streams=None if row[6] is None else int(row[6]),
        waiting=str(row[7] or ""),
        samples=samples,
        started_at=row[9],
        last_batch_at=row[10],
        updated_at=row[11],
    )
