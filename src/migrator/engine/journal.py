"""One run's connection and audit trail: what it records, reports and reads back.

The run has a connection of its own, replaced when the server drops it (nothing
uncommitted survives that, so whatever was under way is done again). Every event is
masked, written to `migrator.events` (in the transaction of the step under way, so it
commits with what the step did, else in one of its own) and reported to the operator.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from migrator.db.failures import error_text
from migrator.db.reconnect import connect_again
from migrator.db.retry import lost_connection, retry
from migrator.db.sessions import backend_pid
from migrator.engine.environment import RunEnvironment
from migrator.engine.locks import PlanLock, taken_over
from migrator.engine.operations import PARTIAL, Operation
from migrator.plugin.context import StepContext
from migrator.plugin.manager import call_each
from migrator.plugin.reporting import RunEvent, RunInfo
from migrator.state import (
    ChainMoved,
    EventKind,
    EventStatus,
    Link,
    RunStatus,
    approved,
    interrupted_from,
    owns_run,
    seal_chain,
    step_indexes,
    steps_done,
    write_event,
)
from migrator.storable import json_data

T = TypeVar("T")
TRANSIENT_RETRIES = 3  # a lock not granted in time, a lost connection


class Journal:
    """The connection of run `run_id` under `lock`, and its audit trail."""

    def __init__(
        self,
        env: RunEnvironment,
        lock: PlanLock,
        run_id: int,
        transition: tuple[str, str, str] | None = None,
    ) -> None:
        """`transition`: its name, source and target phases, for the reporting hooks."""
        self.env = env
        self.lock = lock
        self.run_id = run_id
        self.conn = env.db.connect()  # its own: replaced if the server drops it
        self._pid: int | None = None
        # who is told of this run's events (None: nobody: a dry run, a rehearsal)
        self.info: RunInfo | None = None
        if env.command is not None and transition is not None:
            name, source, target = transition
            self.info = RunInfo(env.command, run_id, name, source, target, warn=self.warn)
        self._telling = False  # an event told while telling one (a hook's failure) is not
        self._hook_failures: set[str] = set()  # each recorded once: not one per batch
        # events written in the step's transaction under way, not yet sealed (see `event`)
        self._unsealed: list[Link] = []
        self._unsealed_in: object | None = None

    def close(self) -> None:
        self.conn.close()

    def context(
        self, step: str | None = None, op: Operation | None = None, conn: Connection | None = None
    ) -> StepContext:
        """What an action or a check is given, on the run's connection (or `conn`); for
        operation `op`, with its lock timeout, and the retries of its parts recorded as
        its events (call `retrying` from the step's own thread)."""
        conn = conn if conn is not None else self.conn
        if op is None:
            return self.env.step_context(conn, self.run_id, step=step, owner=self.lock.owner)
        info = self.info
        return self.env.step_context(
            conn,
            self.run_id,
            step=step,
            owner=self.lock.owner,
            lock_timeout=op.lock_wait,
            lock_retries=max(op.retries, TRANSIENT_RETRIES),
            retrying=lambda part, attempt, error, pause: self.step_event(
                EventKind.STEP,
                EventStatus.RETRY,
                op,
                part=part,
                attempt=attempt,
                error=error_text(error),
                pause=pause,
                blockers=[b.as_dict() for b in getattr(error, "blockers", [])],
            ),
            on_progress=(
                None
                if info is None
                else lambda progress: self.hook("migrator_progress", run=info, progress=progress)
            ),
        )

    # -- writing --------------------------------------------------------------------------

    def in_tx(self, work: Callable[[Connection], T]) -> T:
        """`work` in the transaction of the step under way, else in a transaction of its
        own, which first checks that the run is still this process's (`fence`); one of
        its own whose connection was lost is done again on a new one."""
        if self.conn.in_transaction():
            return work(self.conn)

        def once(attempt: int) -> T:
            with self.conn.begin():
                self.fence(self.conn)
                return work(self.conn)

        return retry(
            once,
            transient=lost_connection,
            retries=TRANSIENT_RETRIES,
            on_retry=lambda attempt, error, reason, pause: self.reconnect(),
        )

    def step_event(
        self,
        kind: EventKind,
        status: EventStatus,
        op: Operation,
        *,
        lazy: bool = False,
        **detail: Any,
    ) -> None:
        """An event about `op` (kind `step` or `undo`): its name, index and action, and more."""
        self.event(kind, status, op.label, lazy=lazy, index=op.index, action=op.action, **detail)

    def event(
        self,
        kind: EventKind,
        status: EventStatus,
        step: str | None = None,
        *,
        lazy: bool = False,
        **detail: Any,
    ) -> None:
        """Record an event and report it.

        `lazy`: an event in a transaction of its own (never in a step's) is committed
        without waiting for the disk (see `migrator.state.record_event`). Other sessions see it at
        once; only a crash of the server itself could lose it, and then together with all
        that came after it, since the next durable commit (a step's, a state change's)
        writes all earlier WAL first. For records that nothing acts on before such a
        commit: the start of a step in a transaction, a check's verdict.
        """
        detail = self.env.secrets.mask_data(json_data(detail))  # masked before any text is cut
        step = self.env.secrets.mask(step) if step is not None else None  # a name is plan text
        if self.conn.in_transaction():
            # In the step's transaction: the run's row is not locked yet, so that a process
            # held in its step never keeps another from taking the run over; `fence` locks
            # it before the commit and moves the chain's head (`seal_chain`).
            tx = self.conn.get_transaction()
            if tx is not self._unsealed_in:
                self._unsealed, self._unsealed_in = [], tx
            after = self._unsealed[-1] if self._unsealed else None
            self._unsealed.append(
                write_event(
                    self.conn,
                    self.run_id,
                    kind,
                    status,
                    step=step,
                    detail=detail,
                    held=False,
                    after=after,
                )
            )
        else:
            self.in_tx(
                lambda conn: write_event(
                    conn, self.run_id, kind, status, step=step, detail=detail, durable=not lazy
                )
            )
        self.report(kind, status, step, detail)

    def report(
        self,
        kind: EventKind,
        status: EventStatus | RunStatus,
        step: str | None,
        detail: Any,
        settle: str | None = None,
    ) -> None:
        """Tell the reporter (the terminal, JSON output) about an event, then the plugins'
        `migrator_event` (`settle`: the command that settles a run left waiting)."""
        self.env.reporter.event(
            self.env.plan.name,
            self.run_id,
            {"kind": kind, "status": status, "step": step, "detail": detail},
        )
        if self.info is None or self._telling:
            return
        self._telling = True
        try:
            told = detail if isinstance(detail, dict) else {"detail": detail}
            event = RunEvent(str(kind), str(status), step, told, settle)
            self.hook("migrator_event", run=self.info, event=event)
        finally:
            self._telling = False

    def hook(self, name: str, **kwargs: Any) -> None:
        """Call each plugin's hook `name`; a plugin that raises is recorded (once per plugin,
        hook and error), never fatal, and never keeps the other plugins from being called."""

        def failed(plugin: str, exc: Exception) -> None:  # a reporter's bug: not the run's
            failure = f"plugin {plugin}: {name}: {type(exc).__name__}: {exc}"
            if failure not in self._hook_failures:
                self._hook_failures.add(failure)
                self.event(EventKind.HOOK, EventStatus.FAILED, detail=failure)

        call_each(getattr(self.env.hooks, name), failed, **kwargs)

    def warn(self, text: str) -> None:
        """A plugin's warning (a notification not delivered), recorded in the trail."""
        self.event(EventKind.HOOK, EventStatus.WARNED, detail=text)

    def fence(self, conn: Connection) -> None:
        """In a transaction: raise RunTakenOver (exit 4) unless this process still owns the
        run; if it does, the run's row stays locked until the transaction ends, so what the
        transaction writes commits only while the run is ours, and the events written in
        it so far are sealed into the run's chain."""
        links = self._unsealed if conn.get_transaction() is self._unsealed_in else []
        self._unsealed, self._unsealed_in = [], None
        chained = bool(links) and links[0].seq is not None
        if chained and seal_chain(conn, self.run_id, links, self.lock.owner):
            return  # ours, its row locked, the step's events sealed: one statement
        if not owns_run(conn, self.run_id, self.lock.owner):
            raise taken_over(conn, self.env.plan.name, self.run_id)
        if chained:
            raise ChainMoved(self.run_id, links[0].id)

    def fenced(self) -> None:
        """Check, in a transaction of its own, that the run is still ours (before a step
        that cannot be rolled back: an HTTP call, a command, CREATE INDEX CONCURRENTLY)."""
        self.in_tx(lambda conn: None)

    # -- reading back ---------------------------------------------------------------------

    def done_steps(self, run_id: int) -> list[tuple[int, Any]]:
        """(index, memo) of every step recorded done in `run_id`, in the order they ran.

        A step outside a transaction that failed part way (a backfill that committed
        some batches) is included with the memo `PARTIAL`: its rollback undoes it.
        """
        rows = self.in_tx(lambda conn: steps_done(conn, run_id))
        return [
            (int(d["index"]), d.get("memo") if status == EventStatus.DONE else PARTIAL)
            for status, d in rows
        ]

    def recorded(self, kind: EventKind, statuses: tuple[EventStatus, ...]) -> set[int]:
        """The indexes of this run's steps (or undos) with an event of one of `statuses`."""
        return self.in_tx(lambda conn: step_indexes(conn, self.run_id, kind, statuses))

    def approved(self) -> bool:
        """Whether this run's approval was given (before an interruption)."""
        return self.in_tx(lambda conn: approved(conn, self.run_id))

    def interrupted_from(self) -> str | None:
        """The status this run was in when it was last recorded interrupted, if it was."""
        return self.in_tx(lambda conn: interrupted_from(conn, self.run_id))

    # -- the connection and the lock ------------------------------------------------------

    def fresh_connection(self) -> None:
        """Put a new connection in place of one that an interruption may have left in the
        middle of something (a cancelled statement, a transaction half ended)."""
        with suppress(BaseException):
            self.conn.close()
        self.conn = self.env.db.connect()
        self._pid = None

    def reconnect(self) -> None:
        """Replace a connection the server dropped (nothing uncommitted survived it),
        waiting for a server that restarts; the error if it stays away."""
        with suppress(Exception):
            self.conn.close()
        self.conn = connect_again(self.env.db)
        self._pid = None
        self.still_locked()  # what took this connection may have taken the lock's too

    def still_locked(self) -> None:
        """Before anything changes: the lock is still ours (taken again if its connection
        was lost; LockLost, exit 4, if another session holds it now)."""
        if not self.lock.ensure_held():
            self.event(
                EventKind.LOCK,
                EventStatus.REACQUIRED,
                detail="the connection holding the lock was lost",
            )

    def backend_pid(self) -> int:
        """The server process of the run's connection (whose lock waits are watched)."""
        if self._pid is None:
            self._pid = backend_pid(self.conn)
        return self._pid
