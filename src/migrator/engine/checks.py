"""Evaluating a check: once, polling until it passes (`wait`), or for a window (`soak`).

A check never changes anything. It runs on a connection of its own (`CheckConnection`,
not the run's), whose server session is reset before each look and reads
`default_transaction_read_only = on`; each look is one REPEATABLE READ transaction (all
its queries see one snapshot), READ ONLY unless the check's spec declares it writes
(never in a dry run), always rolled back. While the check runs, a `CheckGuard`
(`migrator.db.checksql`) on the connection refuses what a check may not send and makes
sure, after every statement sent through `execute`, that the transaction is still open,
as the same role and in the same mode: when not, the check fails. A session-level
advisory lock the check leaves is released, and the check fails. Each look waits at most
`DEFAULT_LOCK_TIMEOUT` for a lock (a check never queues the application's writes behind
it for longer), and a look whose lock was not granted is tried again with growing pauses,
then fails naming who held the lock. `run_checks` evaluates
a transition's pre- or post-checks for its run and records each verdict.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from migrator.db.checksql import GUARD_KEY, CheckGuard, CheckSqlRefused
from migrator.db.failures import error_text, is_connection_lost
from migrator.db.lockwait import DEFAULT_LOCK_TIMEOUT, set_lock_timeout, watch_locks
from migrator.db.reconnect import connect_again
from migrator.db.retry import LOCK_BACKOFF, lock_timeout, lost_connection, retry
from migrator.db.sessions import reset_session
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
    with CheckConnection(journal.env.db) as own:
        return _run_checks(journal, own, phase, checks)


def _run_checks(
    journal: Journal, own: CheckConnection, phase: str, checks: tuple[Any, ...]
) -> bool:
    registry = journal.env.registry
    passed = True
    for index, check in enumerate(checks):
        journal.env.stop.check(f"{phase}-check {check.label(index)}")
        hurried = not passed and (check.wait is not None or check.soak is not None)
        outcome, seconds, samples = _evaluate(journal, own, check, single=hurried)
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
            **({"differences": list(outcome.differences)} if outcome.differences else {}),
            seconds=seconds,
            samples=samples,
            describe=registry.checks[check.check_key].describe(check),
        )
        journal.hook("migrator_after_check", ctx=journal.context(), check=label, outcome=outcome)
        if not outcome.passed and not warn:
            passed = False
    return passed


class CheckConnection:
    """The connection checks run on: opened when first needed, replaced when lost, closed
    at the end (`with`)."""

    def __init__(self, engine: Engine, *, pinned: bool = True) -> None:
        self.engine = engine
        # Whether the connection keeps its own server session (no pooler in transaction
        # mode): only then are its session reset and the release of the session-level
        # advisory locks a check left done, which through such a pooler would act on a
        # server session other clients share. A run is always pinned (its lock needs it).
        self.pinned = pinned
        self._conn: Connection | None = None

    def get(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def reconnect(self) -> None:
        """A connection the server dropped is replaced (waiting for a server that restarts)."""
        self.close()
        self._conn = connect_again(self.engine)

    def close(self) -> None:
        """Close it for good: its server session, set read-only by default, is not handed
        back to the pool for a step to run on."""
        if self._conn is not None:
            with suppress(Exception):
                self._conn.invalidate()
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> CheckConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _evaluate(
    journal: Journal, own: CheckConnection, check: Any, *, single: bool = False
) -> tuple[Any, float, int]:
    """A check's outcome; a check whose connection was lost is asked again on a new
    one (a lost connection is not a failed check)."""
    return retry(
        lambda attempt: evaluate_check(journal.env, own, journal.run_id, check, single=single),
        transient=lost_connection,
        retries=TRANSIENT_RETRIES,
        on_retry=lambda attempt, error, reason, pause: own.reconnect(),
    )


def evaluate_check(
    env: RunEnvironment,
    own: CheckConnection,
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

    writes = spec.may_write(check) and not read_only

    def look(attempt: int) -> CheckOutcome:
        return _look(env, own, run_id, check, writes=writes, dry_run=read_only)

    def paused(seconds: float) -> bool:
        _pause(env, seconds)
        return True

    def once() -> CheckOutcome:
        try:  # a lock not granted in time: looked at again, then failed naming who held it
            outcome = retry(
                look,
                transient=lock_timeout,
                retries=TRANSIENT_RETRIES,
                backoff=LOCK_BACKOFF,
                wait=paused,
            )
        except Exception as exc:
            if not read_only and is_connection_lost(exc):
                raise  # the database went away: no verdict on the check (asked again)
            return CheckOutcome(False, None, _shown(check.expectation), f"error: {error_text(exc)}")
        return outcome

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
            replace(last, passed=ok, detail=note),
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
            outcome = replace(
                outcome,
                passed=False,
                detail=(outcome.detail + "; " if outcome.detail else "")
                + f"still failing after {check.wait.timeout:g}s",
            )
    return outcome, time.monotonic() - started, samples


_SESSION_LOCKS = (
    "select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()"
)


def _look(
    env: RunEnvironment,
    own: CheckConnection,
    run_id: int | None,
    check: Any,
    *,
    writes: bool,
    dry_run: bool,
) -> CheckOutcome:
    """One look at a check, guarded, on a server session put back as it started."""
    spec = env.registry.checks[check.check_key]
    conn = own.get()
    if own.pinned:
        with conn.begin():
            reset_session(conn)
    guard = CheckGuard("", read_only=not writes)
    info = conn.info  # taken now: a connection the server dropped cannot give it later
    with conn.begin() as tx:
        try:
            # One snapshot for the whole check: the two queries of an equals_query (and
            # any query a plugin runs) see the same committed data, even while the
            # application keeps writing.
            conn.execute(text("set transaction isolation level repeatable read"))
            conn.execute(text(f"set transaction read {'write' if writes else 'only'}"))
            # Undone by the rollback; kept only if a COMMIT got through, and then what
            # follows it is read-only too (the guard stops the check right after it).
            conn.execute(text("set session default_transaction_read_only = on"))
            # Strings read as the check-SQL rules read them, whatever the database's
            # default: with it off, a backslash could hide a COMMIT from the rules.
            conn.execute(text("set local standard_conforming_strings = on"))
            set_lock_timeout(conn, DEFAULT_LOCK_TIMEOUT)
            user, pid = conn.execute(text("select current_user, pg_backend_pid()")).one()
            guard.user = str(user)
            info[GUARD_KEY] = guard
            ctx = env.step_context(conn, run_id, dry_run=dry_run)
            try:
                with watch_locks(env.db, pid, env.secrets, lock_timeout=DEFAULT_LOCK_TIMEOUT):
                    outcome: CheckOutcome = spec.evaluate(ctx, check)
            except CheckSqlRefused:
                outcome = CheckOutcome(False, None, _shown(check.expectation), "")
            except Exception as exc:
                if guard.violation is None:
                    raise
                outcome = CheckOutcome(False, None, _shown(check.expectation), error_text(exc))
        finally:
            info.pop(GUARD_KEY, None)
            tx.rollback()  # a check never changes anything
    if guard.violation is not None:
        own.close()  # whatever the check did to its session goes with it
        return _failed(outcome, f"the check was stopped: {guard.violation}")
    if not own.pinned:
        return outcome
    with conn.begin():
        held = conn.exec_driver_sql(_SESSION_LOCKS, {}).scalar_one()
        if held:
            conn.exec_driver_sql("select pg_advisory_unlock_all()", {})
    if held:
        outcome = _failed(outcome, f"the check left {held} session-level advisory lock(s) held")
    return outcome


def _failed(outcome: CheckOutcome, why: str) -> CheckOutcome:
    return replace(outcome, passed=False, detail="; ".join(filter(None, [why, outcome.detail])))


def _pause(env: RunEnvironment, seconds: float) -> None:
    """The wait between two looks of a check: cut short, and the run stopped, by a signal."""
    if env.stop.wait(seconds):
        raise StopRequested("stopped while a check waited to look again")


def _shown(value: Any) -> Any:
    return str(value) if value is not None else None
