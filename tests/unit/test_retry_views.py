"""How retries read: in the console (a step's, an undo's, a part's: attempt, pause, who
blocked it) and in the report (a part's retry is no attempt of its step, but a moment)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from migrator.state.events import EventRow
from migrator.views.console import Reporter
from migrator.views.report import _steps, _summary

BLOCKER = {
    "pid": 4242,
    "user": "app",
    "application": "reporting-job",
    "state": "idle in transaction",
    "seconds_in_transaction": 12.5,
    "query": "select *\n  from busy",
}
STARTED = datetime(2026, 1, 1, tzinfo=UTC)


def row(n: int, status: str, **detail: Any) -> EventRow:
    detail = {"index": 0, "action": "backfill", **detail}
    return EventRow(n, 1, STARTED + timedelta(seconds=n), "copy", "step", status, detail)


def shown(kind: str, status: str, **detail: Any) -> str:
    out = io.StringIO()
    reporter = Reporter(out, io.StringIO())
    event = {"kind": kind, "status": status, "step": "copy", "detail": {"action": "sql", **detail}}
    reporter.event("plan", 1, event)
    return out.getvalue()


def test_a_retry_of_a_part_names_the_part_the_attempt_the_pause_and_who_blocked_it() -> None:
    line = shown(
        "step",
        "retry",
        part="batch 17",
        attempt=2,
        pause=1.0,
        error="canceling statement due to lock timeout",
        blockers=[BLOCKER],
    )
    assert "copy (sql): retry of batch 17 after attempt 2, again in 1s" in line
    assert "lock timeout — blocked by pid 4242 (reporting-job, app, idle in transaction" in (line)


def test_a_retry_whose_error_names_its_blockers_names_them_once() -> None:
    error = "canceling statement due to lock timeout — blocked by pid 4242 (app): select 1"
    line = shown("undo", "retry", attempt=1, pause=0.5, error=error, blockers=[BLOCKER])
    assert "undo copy (sql): retry after attempt 1, again in 0.5s — " + error in line
    assert line.count("blocked by") == 1


def test_the_retries_of_a_part_are_no_attempts_of_the_step_but_moments_of_the_run() -> None:
    events = [
        row(1, "started"),
        row(2, "retry", part="batch 3", attempt=1, pause=0.5, error="lock timeout"),
        row(3, "retry", part="batch 3", attempt=2, pause=1.0, error="lock timeout"),
        row(4, "done", seconds=4.0),
    ]
    (step,) = _steps(events)
    assert step["attempts"] == 1
    assert step["part_retries"] == 2
    assert step["error"] is None  # it did not fail
    assert _summary(events[2]) == (
        "copy (backfill): retry of batch 3 after attempt 2, again in 1s: lock timeout"
    )


def test_a_retry_of_the_step_itself_counts_as_an_attempt() -> None:
    events = [
        row(1, "started"),
        row(2, "retry", attempt=1, pause=0.5, error="lock timeout"),
        row(3, "done", seconds=2.0),
    ]
    assert _steps(events)[0]["attempts"] == 2
    summary = "copy (backfill): retry after attempt 1, again in 0.5s: lock timeout"
    assert _summary(events[1]) == summary


def test_after_a_lock_wait_the_pause_is_at_least_the_wait_doubling_up_to_a_ceiling() -> None:
    from migrator.db.retry import LOCK_BACKOFF, LOCK_TIMEOUT, LOST_CONNECTION
    from migrator.engine.steps import pause_after

    def pauses(waited: float, reason: str = LOCK_TIMEOUT) -> list[float]:
        return [pause_after(waited, n, reason, LOCK_BACKOFF.pause(n)) for n in (1, 2, 3, 4, 5)]

    assert pauses(0.2) == [0.5, 1.0, 2.0, 4.0, 8.0]  # short waits: LOCK_BACKOFF's own
    assert pauses(5.0) == [5.0, 10.0, 10.0, 10.0, 10.0]  # never shorter than the wait
    assert pauses(30.0) == [30.0] * 5  # a long lock_timeout: as long as the wait
    assert pauses(5.0, LOST_CONNECTION) == [0.5, 1.0, 2.0, 4.0, 8.0]  # not a lock wait
