"""One run of one transition, driven by the run state machine.

Each step runs in its own transaction, committed together with the audit event
that says it is done, so the audit trail is exactly what happened: a run killed
at any instant is resumed from the step after the last one recorded done.
Steps that cannot run in a transaction (HTTP calls, people, CREATE INDEX
CONCURRENTLY) are recorded right after they ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.db.failures import error_text, is_lock_timeout
from migrator.db.reconnect import connect_again, is_connection_lost
from migrator.engine.checks import evaluate_check
from migrator.engine.locks import LockLost, PlanLock
from migrator.engine.lockwatch import Blocker, LockWatch
from migrator.engine.runstate import LIVE, RunModel, RunState, drive
from migrator.errors import ExitCode
from migrator.plan.model import Transition
from migrator.plugin.context import StepContext, StepError
from migrator.state import (
    EventKind,
    EventStatus,
    RunRow,
    RunStatus,
    approved,
    record_event,
    set_phase,
    set_run_status,
    step_indexes,
    steps_done,
)

if TYPE_CHECKING:
    from migrator.engine.runner import Runner

T = TypeVar("T")
PARTIAL = {"partial": True}  # the memo of a step that failed part way
# The note of a check looked at once because an earlier one failed (see _checks).
HURRIED = "evaluated once, without its wait or soak: an earlier check failed"
# Why a run left live is settled as interrupted: its process was killed, or it gave up on a
# database gone for longer than the reconnect window (exit 5) and could record nothing.
INTERRUPTED = "its process ended (killed, or the database went away) before the run finished"
DEFAULT_LOCK_TIMEOUT = 5.0
TRANSIENT_RETRIES = 3  # a lock not granted in time, a lost connection


class LockNotGranted(Exception):
    """A lock was not granted within `lock_timeout`; names the sessions that held it."""

    def __init__(self, error: BaseException, blockers: list[Blocker]) -> None:
        self.error = error
        self.blockers = blockers
        names = "; ".join(str(b) for b in blockers)
        super().__init__(f"{error_text(error)} — blocked by {names}")

    @property
    def orig(self) -> Any:  # read like the driver error it wraps (SQLSTATE 55P03)
        return getattr(self.error, "orig", None)


class StepFailed(Exception):
    def __init__(self, label: str, error: str) -> None:
        super().__init__(f"step {label} failed: {error}")
        self.label = label
        self.error = error


@dataclass
class Operation:
    """One unit of a run: a plan step, or (in a rollback) the undo of one."""

    index: int
    label: str
    action: str
    describe: str
    do: Callable[[StepContext], Any]
    transactional: bool
    undo: Callable[[StepContext, Any], None] | None
    undo_transactional: bool
    undo_missing: str
    step: Any = None
    timeout: float | None = None
    lock_timeout: float | None = None
    retries: int = 0
    undo_describe: str = ""  # what undoing it runs, for the audit trail


class TransitionRun:
    """One run of one transition, driven by the run state machine."""

    def __init__(
        self,
        runner: Runner,
        lock: PlanLock,
        transition: Transition,
        row: RunRow,
        reverting: RunRow | None,
    ) -> None:
        self.r = runner
        self.lock = lock
        self.conn = runner.db.connect()  # its own: replaced if the server drops it
        self._pid: int | None = None
        self.t = transition
        self.row = row
        self.run_id = row.id
        self.reverting = reverting
        self.model = RunModel(row.id, self._record_state)
        initial = RunState(row.status)
        drive(self.model, initial)
        self.operations = self._operations()

    def __enter__(self) -> TransitionRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    # -- the audit trail ------------------------------------------------------------------

    def _in_tx(self, work: Callable[[Connection], T]) -> T:
        """`work` in the transaction of the step under way, else in a transaction of its
        own; one of its own whose connection was lost is done again on a new one."""
        if self.conn.in_transaction():
            return work(self.conn)
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.conn.begin():
                    return work(self.conn)
            except Exception as exc:
                if not is_connection_lost(exc) or attempt > TRANSIENT_RETRIES:
                    raise
                self._reconnect()

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
        detail = self.r.secrets.mask_data(detail)
        durable = not lazy or self.conn.in_transaction()
        self._in_tx(
            lambda conn: record_event(
                conn, self.run_id, kind, status, step=step, detail=detail, durable=durable
            )
        )
        self._report(kind, status, step, detail)

    def _report(
        self, kind: EventKind, status: EventStatus | RunStatus, step: str | None, detail: Any
    ) -> None:
        self.r.reporter.event(
            self.r.plan.name,
            self.run_id,
            {"kind": kind, "status": status, "step": step, "detail": detail},
        )

    def _record_state(self, source: RunState, dest: RunState, reason: str) -> None:
        self._still_locked()  # a run writes its state only while it holds the plan's lock
        failing = dest in (RunState.FAILED, RunState.UNDO_FAILED, RunState.UNDOING)
        error = self.r.secrets.mask(reason) if failing and reason else None
        detail = self.r.secrets.mask_data({"from": source.value, "reason": reason})

        def write(conn: Connection) -> None:
            set_run_status(conn, self.run_id, dest, error=error)
            if dest == RunState.SUCCEEDED:
                set_phase(conn, self.r.plan.name, self.t.target, self.run_id)
            record_event(conn, self.run_id, EventKind.STATE, dest, detail=detail)

        self._in_tx(write)
        self._report(EventKind.STATE, dest, None, detail)
        if dest in (RunState.SUCCEEDED, RunState.FAILED, RunState.UNDONE, RunState.UNDO_FAILED):
            self._hook(
                "migrator_run_end",
                plan=self.r.plan.name,
                run_id=self.run_id,
                transition=self.t.name,
                status=dest.value,
            )

    def _hook(self, name: str, **kwargs: Any) -> None:
        try:
            getattr(self.r.pm.hook, name)(**kwargs)
        except Exception as exc:  # a reporter's bug must not break a migration
            self.event(
                EventKind.HOOK, EventStatus.FAILED, detail=f"{name}: {type(exc).__name__}: {exc}"
            )

    # -- what this run does ---------------------------------------------------------------

    def _operations(self) -> list[Operation]:
        if self.reverting is None:
            return [self._step_operation(i, s) for i, s in enumerate(self.t.steps)]
        original = self.r.plan.transition(self.reverting.transition)
        done = self._done_steps(self.reverting.id)
        ops = []
        for n, (index, memo) in enumerate(reversed(done)):
            source = self._step_operation(index, original.steps[index])
            ops.append(self._reverting_operation(n, source, memo))
        return ops

    def _step_operation(self, index: int, step: Any) -> Operation:
        spec = self.r.registry.actions[step.action_key]
        undo: Callable[[StepContext, Any], None] | None = None
        undo_transactional = spec.in_transaction(step)
        missing = ""
        if step.rollback == "irreversible":
            missing = "the step is marked irreversible"
        elif step.rollback:
            rollback_steps = list(step.rollback)

            def undo_with_rollback(ctx: StepContext, memo: Any) -> None:
                for undo_step in rollback_steps:
                    self.r.registry.actions[undo_step.action_key].run(ctx, undo_step)

            undo = undo_with_rollback
            undo_transactional = all(
                self.r.registry.actions[u.action_key].in_transaction(u) for u in rollback_steps
            )
        elif spec.undo is not None:
            default_undo = spec.undo

            def undo_default(ctx: StepContext, memo: Any) -> None:
                default_undo(ctx, step, memo)

            undo = undo_default
        else:
            missing = f"no rollback given, and {step.action_key} has no default undo"

        def do(ctx: StepContext) -> Any:
            return spec.run(ctx, step)

        return Operation(
            index=index,
            label=step.label(index),
            action=step.action_key,
            describe=spec.describe(step),
            do=do,
            transactional=spec.in_transaction(step),
            undo=undo,
            undo_transactional=undo_transactional,
            undo_missing=missing,
            step=step,
            timeout=step.timeout,
            lock_timeout=step.lock_timeout,
            retries=step.retries,
            undo_describe=self.r.registry.describe_undo(step),
        )

    def _reverting_operation(self, n: int, source: Operation, memo: Any) -> Operation:
        undo = source.undo

        def do(ctx: StepContext) -> Any:
            if undo is None:
                ctx.say(f"  nothing to undo for {source.label}: {source.undo_missing}")
                return {"nothing_to_undo": source.undo_missing}
            undo(ctx, memo)
            return None

        return Operation(
            index=n,
            label=f"undo {source.label}",
            action=f"undo:{source.action}",
            describe=f"undo of: {source.describe}",
            do=do,
            transactional=source.undo_transactional,
            undo=None,
            undo_transactional=True,
            undo_missing="the undo of a step cannot itself be undone",
            step=source.step,
            timeout=source.timeout,
            lock_timeout=source.lock_timeout,
            retries=source.retries,
        )

    def _done_steps(self, run_id: int) -> list[tuple[int, Any]]:
        """(index, memo) of every step recorded done in `run_id`, in the order they ran.

        A step outside a transaction that failed part way (a backfill that committed
        some batches) is included with the memo `PARTIAL`: its rollback undoes it.
        """
        rows = self._in_tx(lambda conn: steps_done(conn, run_id))
        return [
            (int(d["index"]), d.get("memo") if status == EventStatus.DONE else PARTIAL)
            for status, d in rows
        ]

    def _recorded(self, kind: EventKind, statuses: tuple[EventStatus, ...]) -> set[int]:
        return self._in_tx(lambda conn: step_indexes(conn, self.run_id, kind, statuses))

    def _approved(self) -> bool:
        return self._in_tx(lambda conn: approved(conn, self.run_id))

    # -- the life of a run ----------------------------------------------------------------

    def execute(self) -> ExitCode:
        self._hook(
            "migrator_run_start",
            plan=self.r.plan.name,
            run_id=self.run_id,
            transition=self.t.name,
            operator=self.r.options.operator,
        )
        self.model.start()
        return self._forward()

    def resume(self) -> ExitCode:
        """Continue a run whose process died, or retry an undo that failed.

        A rollback run (its steps are undos, which cannot be undone themselves) is
        settled by finishing it: its remaining steps run, whether it was interrupted
        or one of them failed.
        """
        state = self.model.state
        self.found_dead()
        if self.reverting is None and state in (RunState.UNDO_FAILED, RunState.UNDOING):
            undone = self.undo_everything(reason=f"undo resumed by {self.r.options.operator}")
            return ExitCode.OK if undone else ExitCode.UNDO_FAILED
        self.model.resume(reason=f"resumed by {self.r.options.operator}")
        return self._forward()

    def found_dead(self) -> None:
        """The run was left live by a process that is gone (this one holds the plan's
        lock now): record that it was interrupted, and which step was running."""
        if self.model.state not in LIVE:
            return
        reason = INTERRUPTED
        ended = self._recorded(
            EventKind.STEP, (EventStatus.DONE, EventStatus.FAILED, EventStatus.SKIPPED)
        )
        running = sorted(self._recorded(EventKind.STEP, (EventStatus.STARTED,)) - ended)
        if running and running[-1] < len(self.operations):
            reason += f", while step {self.operations[running[-1]].label} ran"
        self.model.interrupt(reason=reason)

    def _forward(self) -> ExitCode:
        if not self._checks("pre", self.t.pre_checks):
            self.model.fail(reason="a pre-check failed: nothing was applied")
            return ExitCode.CHECK_FAILED
        if self.t.approval and not self._approved():
            self.model.await_approval()
            if not self._approve():
                self.model.fail(reason="approval was not given: nothing was applied")
                return ExitCode.CHECK_FAILED
        self.model.apply_steps()
        done = self._recorded(EventKind.STEP, (EventStatus.DONE, EventStatus.SKIPPED))
        try:
            for op in self.operations:
                if op.index in done:
                    continue
                if op.label in self.r.options.skip:
                    self.step_event(
                        EventKind.STEP,
                        EventStatus.SKIPPED,
                        op,
                        reason=self.r.options.skip[op.label],
                        operator=self.r.options.operator,
                    )
                    continue
                self._run(op)
        except StepFailed as failure:
            return self._fail_forward(str(failure))
        self.model.verify()
        if not self._checks("post", self.t.post_checks):
            return self._fail_forward("a post-check failed")
        self.model.succeed()
        return ExitCode.OK

    def _fail_forward(self, reason: str) -> ExitCode:
        """A step or post-check failed: undo the run; exit 1 if that worked, else 3."""
        return ExitCode.CHECK_FAILED if self.undo_everything(reason) else ExitCode.UNDO_FAILED

    def _approve(self) -> bool:
        options = self.r.options
        question = (
            f"Apply {self.t.name} ({self.t.source} -> {self.t.target}, risk {self.t.risk}) "
            f"to plan {self.r.plan.name}?"
        )
        risk = self.t.risk
        if options.assume_yes:
            self.event(
                EventKind.APPROVAL,
                EventStatus.APPROVED,
                operator=options.operator,
                via="--yes",
                risk=risk,
            )
            return True
        if options.interactive and options.confirm(question):
            self.event(
                EventKind.APPROVAL,
                EventStatus.APPROVED,
                operator=options.operator,
                via="terminal",
                risk=risk,
            )
            return True
        how = "declined at the terminal" if options.interactive else "needs --yes or a terminal"
        self.event(
            EventKind.APPROVAL,
            EventStatus.DECLINED,
            operator=options.operator,
            reason=how,
            risk=risk,
        )
        return False

    def _reconnect(self) -> None:
        """Replace a connection the server dropped (nothing uncommitted survived it),
        waiting for a server that restarts; the error if it stays away."""
        with suppress(Exception):
            self.conn.close()
        self.conn = connect_again(self.r.db)
        self._pid = None
        self._still_locked()  # what took this connection may have taken the lock's too

    # -- steps ----------------------------------------------------------------------------

    def _still_locked(self) -> None:
        """Before anything changes: the lock is still ours (taken again if its connection
        was lost; LockLost, exit 4, if another session holds it now)."""
        if not self.lock.ensure_held():
            self.event(
                EventKind.LOCK,
                EventStatus.REACQUIRED,
                detail="the connection holding the lock was lost",
            )

    def _run(self, op: Operation) -> None:
        self._still_locked()
        # A step outside a transaction may act before its next durable commit: its start
        # is written durably, since undoing a run relies on it (see undo_everything).
        self.step_event(EventKind.STEP, EventStatus.STARTED, op, lazy=op.transactional)
        ctx = self.r.step_context(self.conn, self.run_id, step=op.label)
        self._hook("migrator_before_step", ctx=ctx, step=op.label, action=op.action, config=op.step)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            ctx = self.r.step_context(self.conn, self.run_id, step=op.label)  # maybe a new one
            try:
                memo = self._attempt(op, ctx, started)
                break
            except Exception as exc:
                error = error_text(exc)
                lost = is_connection_lost(exc)
                transient = is_lock_timeout(exc) or lost
                allowed = max(op.retries, TRANSIENT_RETRIES) if transient else op.retries
                if lost:
                    self._reconnect()  # the step's transaction died with the connection
                if attempt <= allowed:
                    pause = min(0.5 * 2 ** (attempt - 1), 10.0)
                    self.step_event(
                        EventKind.STEP,
                        EventStatus.RETRY,
                        op,
                        attempt=attempt,
                        error=error,
                        pause=pause,
                    )
                    time.sleep(pause)
                    continue
                self.step_event(
                    EventKind.STEP,
                    EventStatus.FAILED,
                    op,
                    error=error,
                    attempts=attempt,
                    seconds=time.monotonic() - started,
                    describe=op.describe,
                    blockers=[b.as_dict() for b in getattr(exc, "blockers", [])],
                    partial=not op.transactional,
                    **({"memo": exc.memo} if isinstance(exc, StepError) else {}),
                )
                self._hook(
                    "migrator_on_step_error",
                    ctx=ctx,
                    step=op.label,
                    action=op.action,
                    config=op.step,
                    error=exc,
                )
                raise StepFailed(op.label, error) from exc
        self._hook(
            "migrator_after_step",
            ctx=ctx,
            step=op.label,
            action=op.action,
            config=op.step,
            seconds=time.monotonic() - started,
        )
        del memo

    def _attempt(self, op: Operation, ctx: StepContext, started: float) -> Any:
        def done(memo: Any) -> None:
            self.step_event(
                EventKind.STEP,
                EventStatus.DONE,
                op,
                memo=memo,
                seconds=time.monotonic() - started,
                describe=op.describe,
            )

        if op.transactional:
            with self.conn.begin():
                self._set_timeouts(op)
                with LockWatch(self.r.db, self._backend_pid()) as watch:
                    try:
                        memo = op.do(ctx)
                    except Exception as exc:
                        if is_lock_timeout(exc) and watch.blockers:
                            raise LockNotGranted(exc, watch.blockers) from exc
                        raise
                done(memo)  # committed together with what the step did
            return memo
        with self.r.db.connect() as side:
            side = side.execution_options(isolation_level="AUTOCOMMIT")
            if op.timeout:
                side.execute(
                    text("select set_config('statement_timeout', :v, false)"),
                    {"v": f"{int(op.timeout * 1000)}ms"},
                )
            memo = op.do(self.r.step_context(side, self.run_id, step=op.label))
        done(memo)
        return memo

    def _backend_pid(self) -> int:
        if self._pid is None:
            self._pid = int(self.conn.execute(text("select pg_backend_pid()")).scalar_one())
        return self._pid

    def _set_timeouts(self, op: Operation) -> None:
        lock_timeout = op.lock_timeout or DEFAULT_LOCK_TIMEOUT
        self.conn.execute(
            text("select set_config('lock_timeout', :v, true)"),
            {"v": f"{int(lock_timeout * 1000)}ms"},
        )
        if op.timeout:
            self.conn.execute(
                text("select set_config('statement_timeout', :v, true)"),
                {"v": f"{int(op.timeout * 1000)}ms"},
            )

    # -- undo -----------------------------------------------------------------------------

    def undo_everything(self, reason: str) -> bool:
        """Undo every step this run completed, in reverse order; whether all of it worked.

        Steps already undone (an undo resumed after a crash) are not undone twice.
        """
        state = self.model.state
        if state in (RunState.PENDING, RunState.PRECHECKING, RunState.AWAITING_APPROVAL):
            self.model.interrupt(reason=INTERRUPTED)
        if self.model.state != RunState.UNDOING:
            self.model.undo(reason=reason)
        if self.reverting is not None:
            self.model.undo_broke(
                reason=f"{reason}; a rollback that stopped half way cannot be undone itself: "
                "`migrator resume` or `migrator rollback` finishes it once the cause is fixed"
            )
            return False
        done = self._done_steps(self.run_id)
        finished = {index for index, _ in done}
        for index in sorted(self._recorded(EventKind.STEP, (EventStatus.STARTED,)) - finished):
            if not self.operations[index].transactional:  # killed while it ran
                done.append((index, PARTIAL))
        undone = self._recorded(EventKind.UNDO, (EventStatus.DONE, EventStatus.SKIPPED))
        for index, memo in reversed(done):
            op = self.operations[index]
            if index in undone:
                continue
            if memo == PARTIAL and not isinstance(op.step.rollback, list | tuple):
                self.step_event(
                    EventKind.UNDO,
                    EventStatus.SKIPPED,
                    op,
                    reason="it failed part way, and has no rollback to undo what it did",
                )
                continue
            if op.undo is None:
                self.step_event(
                    EventKind.UNDO,
                    EventStatus.SKIPPED,
                    op,
                    reason=op.undo_missing,
                )
                continue
            try:
                self._undo(op, memo)
            except LockLost:
                raise  # someone else holds the plan now: record nothing more
            except Exception as exc:
                if is_connection_lost(exc):
                    raise  # the database went away: the undo is interrupted, not failed
                error = error_text(exc)
                self.step_event(
                    EventKind.UNDO, EventStatus.FAILED, op, error=error, describe=op.undo_describe
                )
                self.model.undo_broke(reason=f"undoing {op.label} failed: {error}")
                self.r.reporter.say(
                    "manual intervention needed: the plan is blocked until `migrator resume "
                    f"{self.r.plan.file}` or `migrator rollback {self.r.plan.file}` settles it",
                    style="red",
                )
                return False
        self.model.undo_complete(reason=reason)
        return True

    def _undo(self, op: Operation, memo: Any) -> None:
        """Undo `op`; an undo whose connection was lost is done again on a new one (a
        transaction that died with its connection did nothing)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self._still_locked()
            try:
                self._undo_once(op, memo, started)
                return
            except Exception as exc:
                if not is_connection_lost(exc) or attempt > TRANSIENT_RETRIES:
                    raise
                self._reconnect()
                pause = min(0.5 * 2 ** (attempt - 1), 10.0)
                self.step_event(
                    EventKind.UNDO, EventStatus.RETRY, op, attempt=attempt, error=error_text(exc)
                )
                time.sleep(pause)

    def _undo_once(self, op: Operation, memo: Any, started: float) -> None:
        assert op.undo is not None
        if op.undo_transactional:
            with self.conn.begin():
                self._set_timeouts(op)
                op.undo(self.r.step_context(self.conn, self.run_id), memo)
                self.step_event(
                    EventKind.UNDO,
                    EventStatus.DONE,
                    op,
                    seconds=time.monotonic() - started,
                    describe=op.undo_describe,
                )
            return
        with self.r.db.connect() as side:
            side = side.execution_options(isolation_level="AUTOCOMMIT")
            op.undo(self.r.step_context(side, self.run_id), memo)
        self.step_event(
            EventKind.UNDO,
            EventStatus.DONE,
            op,
            seconds=time.monotonic() - started,
            describe=op.undo_describe,
        )

    # -- checks ---------------------------------------------------------------------------

    def _checks(self, phase: str, checks: tuple[Any, ...]) -> bool:
        """Evaluate every check (all of them, not just up to the first failure).

        Once one has failed (and is not `on_fail: warn`), the transition fails whatever
        the others say: those after it are evaluated once, for the record, without their
        `wait` or `soak`, so that the undo does not wait for a window that cannot help.
        """
        passed = True
        for index, check in enumerate(checks):
            hurried = not passed and (check.wait is not None or check.soak is not None)
            outcome, seconds, samples = self._evaluate(check, single=hurried)
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
            self.event(
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
                describe=self.r.registry.checks[check.check_key].describe(check),
            )
            self._hook(
                "migrator_after_check",
                ctx=self.r.step_context(self.conn, self.run_id),
                check=label,
                outcome=outcome,
            )
            if not outcome.passed and not warn:
                passed = False
        return passed

    def _evaluate(self, check: Any, *, single: bool = False) -> tuple[Any, float, int]:
        """A check's outcome; a check whose connection was lost is asked again on a new
        one (a lost connection is not a failed check)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return evaluate_check(self.r, self.conn, self.run_id, check, single=single)
            except Exception as exc:
                if not is_connection_lost(exc) or attempt > TRANSIENT_RETRIES:
                    raise
                self._reconnect()
