"""Evaluating a check: once, polling until it passes (`wait`), or for a window (`soak`).

A check never changes anything: its transaction is always rolled back. It runs in
one REPEATABLE READ transaction, so all its queries see one snapshot. `run_checks`
evaluates a transition's pre- or post-checks for its run and records each verdict.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.db.failures import error_text, is_connection_lost
from migrator.db.retry import lost_connection, retry
from migrator.engine.environment import RunEnvironment
from migrator.engine.journal import TRANSIENT_RETRIES, Journal
from migrator.plugin.context import CheckOutcome, StopRequested
from migrator.state import EventKind, EventStatus

# The note of a check looked at once because an earlier one failed (see run_checks).
HURRIED = "evaluated once, without its wait or soak: an earlier check failed"


def run_checks(journal: Journal, phase: str, checks: tuple[Any, ...]) -> bool:
    """Evaluate every check (all of them, not just up to the first failure).

    Once one has failed (and is not `on_fail: warn`), the transition fails whatever
    the others say: those after it are evaluated once, for the record, without their
    `wait` or `soak`, so that the undo does not wait for a window that cannot help.
    """
    registry = journal.env.registry
    passed = True
    for index, check in enumerate(checks):
        journal.env.stop.check(f"{phase}-check {check.label(index)}")
        hurried = not passed and (check.wait is not None or check.soak is not None)
        outcome, seconds, samples = _evaluate(journal, check, single=hurried)
        if hurried:
            outcome = replace(
                outcome,
                detail="; ".join(filter(None, [outcome.detail, HURRIED])),
            )
        label = check.label(index)
        warn = check.on_fail == "warn"
        status = (
            EventStatus.PASSED
            if outcome.passed
            else (EventStatus.WARNED if warn else EventStatus.FAILED)
        )
        journal.event(
            EventKind.CHECK,
            status,
            label,
            lazy=True,
            phase=phase,
            index=index,
            check=check.check_key,
            actual=outcome.actual,
            expected=outcome.expected,
            detail=outcome.detail,
            seconds=seconds,
            samples=samples,
            describe=registry.checks[check.check_key].describe(check),
        )
        journal.hook("migrator_after_check", ctx=journal.context(), check=label, outcome=outcome)
        if not outcome.passed and not warn:
            passed = False
    return passed


def _evaluate(journal: Journal, check: Any, *, single: bool = False) -> tuple[Any, float, int]:
    """A check's outcome; a check whose connection was lost is asked again on a new
    one (a lost connection is not a failed check)."""
    return retry(
        lambda attempt: evaluate_check(
            journal.env, journal.conn, journal.run_id, check, single=single
        ),
        transient=lost_connection,
        retries=TRANSIENT_RETRIES,
        on_retry=lambda attempt, error, reason, pause: journal.reconnect(),
    )


def evaluate_check(
    env: RunEnvironment,
    conn: Connection,
    run_id: int | None,
    check: Any,
    *,
    read_only: bool = False,
    single: bool = False,
) -> tuple[CheckOutcome, float, int]:
    """Evaluate a check with its wait or soak; (outcome, seconds, samples taken).

    `single`: one look, without the wait or soak (as always when `read_only`).
    """
    single = single or read_only
    spec = env.registry.checks[check.check_key]
    started = time.monotonic()

    def once() -> CheckOutcome:
        with conn.begin() as tx:
            # One snapshot for the whole check: the two queries of an equals_query (and
            # any query a plugin runs) see the same committed data, even while the
            # application keeps writing.
            conn.execute(text("set transaction isolation level repeatable read"))
            if read_only:
                conn.execute(text("set transaction read only"))
            try:
                ctx = env.step_context(conn, run_id, dry_run=read_only)
                return spec.evaluate(ctx, check)  # type: ignore[no-any-return]
            except Exception as exc:
                if not read_only and is_connection_lost(exc):
                    raise  # the database went away: no verdict on the check (the run reconnects)
                expected = check.expectation
                return CheckOutcome(False, None, _shown(expected), f"error: {error_text(exc)}")
            finally:
                tx.rollback()  # a check never changes anything

    if check.soak is not None and not single:
        soak = check.soak
        failures = samples = 0
        deadline = started + soak.duration
        last = once()
        samples = 1
        failures += not last.passed
        while failures <= soak.failure_limit and time.monotonic() + soak.interval <= deadline:
            _pause(env, soak.interval)
            last = once()
            samples += 1
            failures += not last.passed
        ok = failures <= soak.failure_limit
        note = (
            f"{failures} of {samples} samples failed over {time.monotonic() - started:.1f}s "
            f"(limit {soak.failure_limit})"
        )
        return (
            CheckOutcome(ok, last.actual, last.expected, note),
            time.monotonic() - started,
            samples,
        )
    outcome = once()
    samples = 1
    if check.wait is not None and not single:
        deadline = started + check.wait.timeout
        while not outcome.passed and time.monotonic() + check.wait.interval <= deadline:
            _pause(env, check.wait.interval)
            outcome = once()
            samples += 1
        if not outcome.passed:
            outcome = CheckOutcome(
                False,
                outcome.actual,
                outcome.expected,
                (outcome.detail + "; " if outcome.detail else "")
                + f"still failing after {check.wait.timeout:g}s",
            )
    return outcome, time.monotonic() - started, samples


def _pause(env: RunEnvironment, seconds: float) -> None:
    """The wait between two looks of a check: cut short, and the run stopped, by a signal."""
    if env.stop.wait(seconds):
        raise StopRequested("stopped while a check waited to look again")


def _shown(value: Any) -> Any:
    return str(value) if value is not None else None
