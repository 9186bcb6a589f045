"""Running one operation, and undoing one: in a transaction with its audit event, or beside.

An operation in a transaction runs on the run's connection with `lock_timeout` (and
`statement_timeout`) set for it, its `done` event committed together with what it
did; a lock it waited for in vain names the sessions that held it. One outside a
transaction (HTTP calls, people, CREATE INDEX CONCURRENTLY) runs on a connection in
autocommit and is recorded right after. A transient failure (a lock not granted in
time, a lost connection) is retried with backoff, as are any failures up to the
step's own `retries`.

Outside a transaction too, every statement waits at most the step's `lock_timeout` for
a lock (set for the session of its connection, reset before the connection goes back
to the pool), and a lock not granted names its blockers. Each statement there commits
on its own: after a lock timeout, a step (or an undo) is tried again only if none of
its statements had committed yet, since doing it again would run them a second time
(`PartlyDone`; docs/concepts.md, "Locks and the application").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.db.failures import error_text
from migrator.db.lockwait import set_lock_timeout, watch_locks
from migrator.db.retry import (
    LOCK_BACKOFF,
    LOCK_TIMEOUT,
    LOST_CONNECTION,
    any_of,
    lock_pause,
    lock_timeout,
    lost_connection,
    retry,
)
from migrator.db.sessions import reset_session
from migrator.engine.autocommit import PartlyDone, on_side
from migrator.engine.environment import StepObserver
from migrator.engine.journal import TRANSIENT_RETRIES, Journal
from migrator.engine.locks import RunTakenOver
from migrator.engine.operations import Operation, PluginExited
from migrator.plugin.context import StepContext, StepError
from migrator.state import EventKind, EventStatus

T = TypeVar("T")
PARTLY_DONE = "partly done"

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


def partly_done(exc: BaseException) -> str | None:
    """A `Transient` reason that allows no retry (see `retries_for`)."""
    return PARTLY_DONE if isinstance(exc, PartlyDone) else None


def blockers_of(exc: BaseException) -> list[dict[str, Any]]:
    """The sessions that held the lock `exc` waited for in vain, as event detail."""
    return [b.as_dict() for b in getattr(exc, "blockers", [])]


def retries_for(op: Operation) -> Callable[[str | None], int]:
    """How many attempts may follow the first, given why it failed (see `retry`)."""

    def allowed(reason: str | None) -> int:
        if reason == PARTLY_DONE:
            return 0
        return max(op.retries, TRANSIENT_RETRIES) if reason else op.retries

    return allowed


def pause_after(waited: float, attempt: int, reason: str | None, pause: float) -> float:
    """The pause before the next attempt: after a lock not granted in `waited` seconds
    (the lock_timeout), at least as long as the wait was, doubling, so that the
    application's writes, queued behind each wait, run at least as long between two
    waits as they queued in one (measured: docs/concepts.md, "Locks and the application")."""
    return lock_pause(waited, attempt) if reason == LOCK_TIMEOUT else pause


def _record_retry(
    journal: Journal,
    kind: EventKind,
    op: Operation,
    attempt: int,
    exc: BaseException,
    reason: str | None,
    pause: float,
) -> float:
    """Record that attempt `attempt` of `op` (its step or its undo) failed and is done
    again, naming who held the lock it waited for; the pause before the next attempt."""
    pause = pause_after(op.lock_wait, attempt, reason, pause)
    journal.step_event(
        kind,
        EventStatus.RETRY,
        op,
        attempt=attempt,
        error=error_text(exc),
        pause=pause,
        blockers=blockers_of(exc),
    )
    return pause


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

    next_pause = 0.0

    def retrying(n: int, exc: BaseException, reason: str | None, pause: float) -> None:
        nonlocal next_pause
        next_pause = _record_retry(journal, EventKind.STEP, op, n, exc, reason, pause)

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
            blockers=blockers_of(exc),
            partial=not op.transactional,
            **({"memo": exc.memo} if isinstance(exc, StepError) else {}),
        )
        hook("migrator_on_step_error", error=exc)
        if not bug:  # a bug goes on up as it is: the run is left interrupted (exit 6)
            raise StepFailed(op.label, error) from exc

    retry(
        attempt,
        transient=any_of(partly_done, lost_connection, lock_timeout),
        retries=retries_for(op),
        backoff=LOCK_BACKOFF,
        on_failure=failed,
        on_retry=retrying,
        on_give_up=give_up,
        wait=lambda pause: _sleep(next_pause),
    )
    observer = journal.env.observer  # once the step is done for good, never retried for it
    if observer is not None:
        _observe(observer, op, "after_step", lambda: observer.after_step(op))
    hook("migrator_after_step", seconds=time.monotonic() - started)


def _observe(observer: StepObserver, op: Operation, stage: str, call: Callable[[], None]) -> None:
    """`call` the run's observer (a rehearsal's trace): what fails there is the observer's,
    told to it (`failed`), never the step's, which goes on as if it were not watched."""
    try:
        call()
    except Exception as exc:
        with suppress(Exception):
            observer.failed(op, stage, error_text(exc) or type(exc).__name__)


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

    observer = journal.env.observer
    if observer is not None:
        _observe(observer, op, "before_step", lambda: observer.before_step(op))
    if op.transactional:
        return _in_transaction(journal, op, lambda conn: op.do(ctx), done, observed=True)
    memo = _beside(journal, op, lambda side: op.do(journal.context(op.label, op, side)))
    done(memo)
    return memo


def _in_transaction(
    journal: Journal,
    op: Operation,
    work: Callable[[Connection], T],
    record: Callable[[T], None],
    *,
    observed: bool = False,
) -> T:
    """`work` on the run's connection, in a transaction under `op`'s timeouts, watched for
    lock waits; `record(result)` writes its event in the same transaction, which commits
    only while the run is ours (else it is rolled back, undone). `observed`: the run's
    observer (a rehearsal's trace) reads the transaction once the work is done."""
    conn = journal.conn
    observer = journal.env.observer if observed else None
    with conn.begin():
        _set_timeouts(journal, op)
        with watch_locks(
            journal.env.db, journal.backend_pid(), journal.env.secrets, lock_timeout=op.lock_wait
        ):
            result = work(conn)
        if observer is not None:  # in a savepoint: its failure leaves the step's work whole
            _observe(observer, op, "in_transaction", lambda: _look(observer, conn, op))
        reset_session(conn)  # a session-level SET of the step ends with it
        record(result)
        journal.fence(conn)
    return result


def _look(observer: StepObserver, conn: Connection, op: Operation) -> None:
    with conn.begin_nested():
        observer.in_transaction(conn, op)


def _beside(journal: Journal, op: Operation, work: Callable[[Connection], T]) -> T:
    """`work` outside a transaction (engine.autocommit), once the run is known to be ours:
    what it does cannot be rolled back."""
    journal.fenced()
    env = journal.env
    return on_side(env.db, env.secrets, op.lock_wait, op.timeout, work)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def _set_timeouts(journal: Journal, op: Operation) -> None:
    set_lock_timeout(journal.conn, op.lock_wait)
    if op.timeout:
        journal.conn.execute(
            text("select set_config('statement_timeout', :v, true)"),
            {"v": f"{int(op.timeout * 1000)}ms"},
        )


def undo_step(journal: Journal, op: Operation, memo: Any) -> None:
    """Undo `op`; an undo whose connection was lost, or that waited for a lock in vain,
    is done again (a transaction that died with its connection, or that timed out,
    did nothing), recorded as a `retry` of the undo naming who held the lock."""
    started = time.monotonic()
    next_pause = 0.0

    def retrying(n: int, exc: BaseException, reason: str | None, pause: float) -> None:
        nonlocal next_pause
        if reason == LOST_CONNECTION:
            journal.reconnect()
        next_pause = _record_retry(journal, EventKind.UNDO, op, n, exc, reason, pause)

    def pause_then_check_lock(pause: float) -> bool:
        time.sleep(next_pause)
        journal.still_locked()  # before each attempt, as before the first
        return True

    journal.still_locked()
    retry(
        lambda n: _undo_once(journal, op, memo, started),
        transient=any_of(partly_done, lost_connection, lock_timeout),
        retries=lambda reason: 0 if reason in (None, PARTLY_DONE) else retries_for(op)(reason),
        backoff=LOCK_BACKOFF,
        on_retry=retrying,
        wait=pause_then_check_lock,
    )


def _undo_once(journal: Journal, op: Operation, memo: Any, started: float) -> None:
    assert op.undo is not None
    undo = op.undo
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
        _in_transaction(
            journal,
            op,
            lambda conn: undo(env.step_context(conn, journal.run_id), memo),
            lambda result: done(),
        )
        return
    _beside(journal, op, lambda side: undo(env.step_context(side, journal.run_id), memo))
    done()
