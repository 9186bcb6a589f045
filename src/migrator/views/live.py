"""The document of a plan's open run for `migrator status`: what it is doing now, read
from another terminal.

For a run at work: its current step, how long it has run, who runs it where; for a
backfill the rows done of the total, the rate over a recent window (the same
`RateWindow` as the progress bar, measured against the database's clock), the time
left, its streams, the age of its last batch, a pause (by whom, since when) or what
holds it back; for a lock wait the sessions it waits for now, and the blockers its last
retry named. For an interrupted run (or one whose undo failed): how far it got and the
commands that settle it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from migrator import state
from migrator.db.lockwait import Blocker
from migrator.db.target import application_name
from migrator.state.live import (
    ControlSet,
    committed_rows,
    control_set,
    current_step,
    last_retry,
    lock_waits,
)
from migrator.state.progress import StepProgress, read_progress
from migrator.views.rate import RateWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from migrator.state.locks import Holder
    from migrator.state.runs import RunRow

RUNNING = "running"
PAUSED = "paused"
WAITING_FOR_LOCK = "waiting_for_lock"
LIVE_STATES = (RUNNING, PAUSED, WAITING_FOR_LOCK)


def run_document(
    conn: Connection,
    run: RunRow,
    *,
    plan_file: str,
    held: bool,
    holder: Holder | None,
    now: datetime,
) -> dict[str, Any]:
    """The open run `run` as `status` shows it (`held`, `holder`: the plan's lock now)."""
    live = held and (holder is None or holder.run_id in (None, run.id))
    step = current_step(conn, run.id)
    control = control_set(conn, run.plan)
    backfill = _backfill(conn, run.id, step if live else None, live, control, now)
    waits: list[Blocker] = []
    if live and holder is not None:
        name = application_name(holder.pid, holder.host)
        waits = [Blocker(*row) for row in lock_waits(conn, name)]
    retry = last_retry(conn, run.id)
    if run.status == state.RunStatus.UNDO_FAILED:
        shown = str(state.RunStatus.UNDO_FAILED)
    elif not live:
        shown = str(state.RunStatus.INTERRUPTED)
    elif waits:
        shown = WAITING_FOR_LOCK
    elif backfill is not None and backfill["paused"]:
        shown = PAUSED
    else:
        shown = RUNNING
    document: dict[str, Any] = {
        **run.as_dict(),
        "state": shown,
        "current_step": step if live else None,
        "stopped_during": None if live else step,
        "last_step_done": state.last_step_done(conn, run.id),
        "elapsed_seconds": round((now - run.started_at).total_seconds(), 1),
        "backfill": backfill,
        "lock_wait": None,
        "settle": [],
    }
    if waits or (live and retry is not None and retry["detail"].get("blockers")):
        document["lock_wait"] = {
            "blockers": [b.as_dict() for b in waits],
            "last_retry": _retry(retry),
        }
    if shown not in LIVE_STATES:
        document["settle"] = [f"migrator resume {plan_file}", f"migrator rollback {plan_file}"]
    return document


def _backfill(
    conn: Connection,
    run_id: int,
    step: str | None,
    live: bool,
    control: ControlSet,
    now: datetime,
) -> dict[str, Any] | None:
    """The backfill section: of the current step while the run is live (None when that
    step records no progress), else of the step that recorded progress last (how far)."""
    recorded = read_progress(conn, run_id)
    if live:
        recorded = [p for p in recorded if p.step == step]
    if not recorded:
        return None
    progress: StepProgress = recorded[0]
    committed = committed_rows(conn, run_id).get(progress.step, 0)
    done = max(progress.rows_done, committed)
    # rows written as of the record (at most a second old while the run is at work); of a
    # run that stopped, unknown once its checkpoint committed more than the record says
    written = progress.rows_written if live or done == progress.rows_done else None
    total = progress.rows_total
    rate = eta = None
    if live:
        window = RateWindow(samples=progress.samples)
        at = now.timestamp()
        rate = window.rate(at)
        eta = window.seconds_left(total, done, at)
    waiting = progress.waiting if live else ""
    last_batch = progress.last_batch_at
    return {
        "step": progress.step,
        "rows_done": done,
        "rows_total": total,
        "estimated": progress.estimated,
        "percent": None if not total else round(min(100.0, 100.0 * done / total), 1),
        "rows_written": written,
        "rows_per_second": None if rate is None else round(rate, 1),
        "eta_seconds": None if eta is None else round(eta, 1),
        "streams": progress.streams,
        "last_batch_age_seconds": None
        if last_batch is None or not live
        else round(max((now - last_batch).total_seconds(), 0.0), 1),
        "paused": {"by": control.by, "since": control.since} if live and control.paused else False,
        "throttled": waiting if waiting and waiting != PAUSED else None,
    }


def _retry(retry: dict[str, Any] | None) -> dict[str, Any] | None:
    if retry is None:
        return None
    detail = retry["detail"]
    return {
        "at": retry["at"],
        "step": retry["step"],
        "part": detail.get("part"),
        "attempt": detail.get("attempt"),
        "error": detail.get("error"),
        "blockers": [b for b in detail.get("blockers") or [] if isinstance(b, dict)],
    }
