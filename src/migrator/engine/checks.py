"""Evaluating a check: once, polling until it passes (`wait`), or for a window (`soak`).

A check never changes anything: its transaction is always rolled back. It runs in
one REPEATABLE READ transaction, so all its queries see one snapshot.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.db.failures import error_text
from migrator.db.reconnect import is_connection_lost
from migrator.plugin.context import CheckOutcome

if TYPE_CHECKING:
    from migrator.engine.runner import Runner


def evaluate_check(
    runner: Runner,
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
    spec = runner.registry.checks[check.check_key]
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
                ctx = runner.step_context(conn, run_id, dry_run=read_only)
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
            time.sleep(soak.interval)
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
            time.sleep(check.wait.interval)
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


def _shown(value: Any) -> Any:
    return str(value) if value is not None else None
