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

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from migrator import state
from migrator.db.lockwait import Blocker
from migrator.db.target import application_name
from migrator.state.live import (
    ControlSet,
    committed_rows,
    control_set,
    current_step,
    has_sessions,
    last_event_at,
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

WRITTEN_LATELY = 3 * 1.0 + 7.0
"""Seconds (by the database's clock) within which a progress row written by a run whose
plan lock is free shows that its process still works: three times the interval at which
a long step writes its progress (`engine.progress.EVERY`, 1 s) and slack for a slow
batch. After a database restart the run's batches reconnect and go on, but the advisory
lock (a session's) is gone: such a run is live ("its lock was lost in a reconnect"), not
interrupted, while its progress is this recent AND its process has sessions on the
database (a killed process's sessions end with it: that run is interrupted at once). A
`resume` would fence the old process by the run's owner token."""

_NOT_LIVE = (state.RunStatus.UNDO_FAILED, state.RunStatus.INTERRUPTED)


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
    recorded = [on_database_clock(p) for p in read_progress(conn, run.id)]
    live = held and (holder is None or holder.run_id in (None, run.id))
    lock_lost = (
        not held
        and run.status not in _NOT_LIVE
        and _written_lately(recorded, now)
        and has_sessions(conn, application_name(run.pid, run.host))
    )
    live = live or lock_lost
    step = current_step(conn, run.id)
    control = control_set(conn, run.plan)
    retry = last_retry(conn, run.id)
    backfill = _backfill(conn, run.id, recorded, step, live, control, now)
    waits: list[Blocker] = []
    if live and (holder is not None or lock_lost):  # the sessions of the run's process
        name = application_name(*((holder.pid, holder.host) if holder else (run.pid, run.host)))
        waits = [Blocker(*row) for row in lock_waits(conn, name)]
    retrying = live and _retrying(retry, recorded)
    if run.status == state.RunStatus.UNDO_FAILED:
        shown = str(state.RunStatus.UNDO_FAILED)
    elif not live:
        shown = str(state.RunStatus.INTERRUPTED)
    elif waits or retrying:
        shown = WAITING_FOR_LOCK
    elif backfill is not None and backfill["paused"]:
        shown = PAUSED
    else:
        shown = RUNNING
    if backfill is not None and shown != RUNNING:  # no time left while it does not move
        backfill["eta_seconds"] = None
    ended = now if live else (last_event_at(conn, run.id) or now)
    document: dict[str, Any] = {
        **run.as_dict(),
        "state": shown,
        "lock_lost": lock_lost,
        "current_step": step if live else None,
        "stopped_during": None if live else step,
        "last_step_done": state.last_step_done(conn, run.id),
        "elapsed_seconds": round(max((ended - run.started_at).total_seconds(), 0.0), 1),
        "backfill": backfill,
        "lock_wait": None,
        "settle": [],
    }
    if holder is not None and holder.run_id == run.id:  # a resumed run: its process now
        document.update(operator=holder.operator, host=holder.host, pid=holder.pid)
    if waits or (live and retry is not None and retry["detail"].get("blockers")):
        document["lock_wait"] = {
            "blockers": [b.as_dict() for b in waits],
            "last_retry": _retry(retry),
        }
    if shown not in LIVE_STATES:
        document["settle"] = [f"migrator resume {plan_file}", f"migrator rollback {plan_file}"]
    return document


def _written_lately(recorded: list[StepProgress], now: datetime) -> bool:
    """Whether the run's process wrote its progress within `WRITTEN_LATELY` seconds."""
    at = recorded[0].updated_at if recorded else None
    return at is not None and (now - at).total_seconds() <= WRITTEN_LATELY


def _retrying(retry: dict[str, Any] | None, recorded: list[StepProgress]) -> bool:
    """Whether the run's last event is a retry after a lock not granted, newer than the
    rows it last added: it waits for a lock, between its attempts too."""
    if retry is None or not retry["last"]:
        return False
    detail = retry["detail"]
    if not detail.get("blockers") and "lock timeout" not in str(detail.get("error") or ""):
        return False
    moved = recorded[0].last_batch_at if recorded else None
    return moved is None or retry["at"] >= moved


def _backfill(
    conn: Connection,
    run_id: int,
    recorded: list[StepProgress],
    step: str | None,
    live: bool,
    control: ControlSet,
    now: datetime,
) -> dict[str, Any] | None:
    """The backfill section of the step the run is in (live) or stopped in (not live):
    None when that step records no progress (another step's figures are not this one's)."""
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
        "percent": None if not total else percent(done, total),
        "rows_written": written,
        "rows_per_second": None if rate is None else round(rate, 1),
        "eta_seconds": None if eta is None or waiting else round(eta, 1),
        "streams": progress.streams,
        "last_batch_age_seconds": None
        if last_batch is None or not live
        else round(max((now - last_batch).total_seconds(), 0.0), 1),
        "paused": {"by": control.by, "since": control.since} if live and control.paused else False,
        "throttled": waiting if waiting and waiting != PAUSED else None,
    }


def percent(done: int, total: int) -> float:
    """`done` of `total` in percent to one decimal, rounded down: 100.0 only when done."""
    if done >= total:
        return 100.0
    return min(math.floor(1000.0 * done / total) / 10.0, 99.9)


def on_database_clock(progress: StepProgress) -> StepProgress:
    """`progress` with its samples and its last batch (taken on the runner's clock)
    moved onto the database's: the newest sample placed at the row's `updated_at` (the
    database's clock when it was written, when the runner takes its newest sample), the
    rest shifted by the same offset. A runner whose clock is off then still shows its
    rate and the age of its last batch against the database's now."""
    if not progress.samples or progress.updated_at is None:
        return progress
    offset = progress.updated_at.timestamp() - progress.samples[-1][0]
    last_batch = progress.last_batch_at
    return replace(
        progress,
        samples=tuple((at + offset, done) for at, done in progress.samples),
        last_batch_at=None if last_batch is None else last_batch + timedelta(seconds=offset),
    )


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
