"""Running one operation, and undoing one: in a transaction with its audit event, or beside.

An operation in a transaction runs on the run's connection with `lock_timeout` (and
`statement_timeout`) set for it, its `done` event committed together with what it
did; a lock it waited for in vain names the sessions that held it. One outside a
transaction (HTTP calls, people, CREATE INDEX CONCURRENTLY) runs on a connection in
autocommit and is recorded right after. A transient failure (a lock not granted in
time, a lost connection) is retried with backoff, as are any failures up to the
step's own `retries`.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from sqlalchemy import text

from migrator.db.failures import error_text
from migrator.db.lockwait import DEFAULT_LOCK_TIMEOUT, set_lock_timeout, watch_locks
from migrator.db.retry import (
    LOCK_BACKOFF,
    LOST_CONNECTION,
    any_of,
    lock_timeout,
    lost_connection,
    retry,
)
from migrator.db.sessions import reset_session
from migrator.engine.journal import TRANSIENT_RETRIES, Journal
from migrator.engine.locks import RunTakenOver
from migrator.engine.operations import Operation, PluginExited
from migrator.plugin.context import StepContext, StepError
from migrator.state import EventKind, EventStatus

STEP_BACKOFF = LOCK_BACKOFF

# What a plugin raises by mistake, never on purpose: a bug, not a failed step. The run is
# left interrupted (exit 6) instead of undone, for a person to settle once it is fixed.
BUGS = (
    AssertionError,
    AttributeError,
    LookupError,
    NameError,
    TypeError,
    ZeroDivisionError,
    PluginExited,
)


def is_bug(exc: BaseException) -> bool:
    """Whether `exc` is a programming error (a database library's own errors never are)."""
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, BUGS) and not isinstance(exc, SQLAlchemyError)


class StepFailed(Exception):
    def __init__(self, label: str, error: str) -> None:
        super().__init__(f"step {label} failed: {error}")
        self.label = label
        self.error = error


def run_step(journal: Journal, op: Operation) -> None:
    """Run `op` to its recorded end: done, or StepFailed after its last attempt."""
    journal.still_locked()
    # A step outside a transaction may act before its next durable commit: its start
    # is written durably, since undoing a run relies on it (see undo_everything).
    journal.step_event(EventKind.STEP, EventStatus.STARTED, op, lazy=op.transactional)
    ctx = journal.context(op.label, op)

    def hook(name: str, **more: Any) -> None:  # the step's lifecycle hooks, with its context
        journal.hook(name, ctx=ctx, step=op.label, action=op.action, config=op.step, **more)

    hook("migrator_before_step")
    started = time.monotonic()

    def attempt(n: int) -> Any:
        nonlocal ctx
        ctx = journal.context(op.label, op)  # maybe on a new connection
        return _attempt(journal, op, ctx, started)

    def failed(exc: BaseException, reason: str | None) -> None:
        if isinstance(exc, RunTakenOver):
            raise exc  # another process has the run: nothing more, not even a retry
        if reason == LOST_CONNECTION:
            journal.reconnect()  # the step's transaction died with the connection

    def retrying(n: int, exc: BaseException, reason: str | None, pause: float) -> None:
        error = error_text(exc)
        journal.step_event(
            EventKind.STEP, EventStatus.RETRY, op, attempt=n, error=error, pause=pause
        )

    def give_up(n: int, exc: BaseException) -> None:
        error = error_text(exc)
        bug = is_bug(exc)
        if bug:
            error = f"{type(exc).__name__}: {error}"
        journal.step_event(
            EventKind.STEP,
            EventStatus.FAILED,
            op,
            error=error,
            **({"bug": True} if bug else {}),
            attempts=n,
            seconds=time.monotonic() - started,
            describe=op.describe,
            blockers=[b.as_dict() for b in getattr(exc, "blockers", [])],
            partial=not op.transactional,
            **({"memo": exc.memo} if isinstance(exc, StepError) else {}),
        )
        hook("migrator_on_step_error", error=exc)
        if not bug:  # a bug goes on up as it is: the run is left interrupted (exit 6)
            raise StepFailed(op.label, error) from exc

    retry(
        attempt,
        transient=any_of(lost_connection, lock_timeout),
        retries=lambda reason: max(op.retries, TRANSIENT_RETRIES) if reason else op.retries,
        backoff=STEP_BACKOFF,
        on_failure=failed,
        on_retry=retrying,
        on_give_up=give_up,
    )
    hook("migrator_after_step", seconds=time.monotonic() - started)


def _attempt(journal: Journal, op: Operation, ctx: StepContext, started: float) -> Any:
    def done(memo: Any) -> None:
        journal.step_event(
            EventKind.STEP,
            EventStatus.DONE,
            op,
            memo=memo,
            seconds=time.monotonic() - started,
            describe=op.describe,
        )

    env = journal.env
    if op.transactional:
        conn = journal.conn
        with conn.begin():
            _set_timeouts(journal, op)
            with watch_locks(
                env.db, journal.backend_pid(), env.secrets, lock_timeout=lock_timeout_of(op)
            ):
                memo = op.do(ctx)
            reset_session(conn)  # a session-level SET of the step ends with it
            done(memo)  # committed together with what the step did,
            journal.fence(conn)  # only while the run is ours: else rolled back, undone
        return memo
    journal.fenced()  # what follows cannot be rolled back: run it only while the run is ours
    with env.db.connect() as side:
        side = side.execution_options(isolation_level="AUTOCOMMIT")
        if op.timeout:
            side.execute(
                text("select set_config('statement_timeout', :v, false)"),
                {"v": f"{int(op.timeout * 1000)}ms"},
            )
        ctx = journal.context(op.label, op, side)
        try:
            memo = op.do(ctx)
        finally:  # the connection goes back to the pool as it came
            with suppress(Exception):
                reset_session(side)
    done(memo)
    return memo


def lock_timeout_of(op: Operation) -> float:
    """How long each statement of `op` may wait for a lock (seconds)."""
    return op.lock_timeout or DEFAULT_LOCK_TIMEOUT


def _set_timeouts(journal: Journal, op: Operation) -> None:
    set_lock_timeout(journal.conn, lock_timeout_of(op))
    if op.timeout:
        journal.conn.execute(
            text("select set_config('statement_timeout', :v, true)"),
            {"v": f"{int(op.timeout * 1000)}ms"},
        )


def undo_step(journal: Journal, op: Operation, memo: Any) -> None:
    """Undo `op`; an undo whose connection was lost is done again on a new one (a
    transaction that died with its connection did nothing)."""
    started = time.monotonic()

    def retrying(n: int, exc: BaseException, reason: str | None, pause: float) -> None:
        journal.reconnect()
        journal.step_event(EventKind.UNDO, EventStatus.RETRY, op, attempt=n, error=error_text(exc))

    def pause_then_check_lock(pause: float) -> bool:
        time.sleep(pause)
        journal.still_locked()  # before each attempt, as before the first
        return True

    journal.still_locked()
    retry(
        lambda n: _undo_once(journal, op, memo, started),
        transient=lost_connection,
        retries=TRANSIENT_RETRIES,
        backoff=STEP_BACKOFF,
        on_retry=retrying,
        wait=pause_then_check_lock,
    )


def _undo_once(journal: Journal, op: Operation, memo: Any, started: float) -> None:
    assert op.undo is not None
    env = journal.env

    def done() -> None:
        journal.step_event(
            EventKind.UNDO,
            EventStatus.DONE,
            op,
            seconds=time.monotonic() - started,
            describe=op.undo_describe,
        )

    if op.undo_transactional:
        with journal.conn.begin():
            _set_timeouts(journal, op)
            op.undo(env.step_context(journal.conn, journal.run_id), memo)
            reset_session(journal.conn)
            done()  # committed together with what the undo did,
            journal.fence(journal.conn)  # only while the run is ours
        return
    journal.fenced()
    with env.db.connect() as side:
        side = side.execution_options(isolation_level="AUTOCOMMIT")
        try:
            op.undo(env.step_context(side, journal.run_id), memo)
        finally:
            with suppress(Exception):
                reset_session(side)
    done()
