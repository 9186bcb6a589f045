"""One run of one transition, driven by the run state machine.

Each step runs in its own transaction, committed together with the audit event
that says it is done, so the audit trail is exactly what happened: a run killed
at any instant is resumed from the step after the last one recorded done.
Steps that cannot run in a transaction (HTTP calls, people, CREATE INDEX
CONCURRENTLY) are recorded right after they ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from migrator.db.failures import error_text, is_connection_lost
from migrator.engine.checks import run_checks
from migrator.engine.environment import RunEnvironment
from migrator.engine.journal import Journal
from migrator.engine.locks import LockLost, PlanLock, RunTakenOver
from migrator.engine.operations import (
    PARTIAL,
    Operation,
    forward_operations,
    undo_operations,
)
from migrator.engine.runstate import LIVE, RunModel, RunState, drive
from migrator.engine.settling import settle_of, settled_by
from migrator.engine.steps import StepFailed, blockers_of, run_step, undo_step
from migrator.engine.stopping import StopRequested
from migrator.errors import ExitCode, InternalError, MigratorError, RunStopped
from migrator.plan.model import Transition
from migrator.state import (
    EventKind,
    EventStatus,
    RunRow,
    get_run,
    record_event,
    set_phase,
    set_run_status,
)

T = TypeVar("T")

# Why a run left live is settled as interrupted: its process was killed, or it gave up on a
# database gone for longer than the reconnect window (exit 5) and could record nothing.
INTERRUPTED = "its process ended (killed, or the database went away) before the run finished"


class TransitionRun:
    """One run of one transition, driven by the run state machine."""

    def __init__(
        self,
        env: RunEnvironment,
        lock: PlanLock,
        transition: Transition,
        row: RunRow,
        reverting: RunRow | None,
    ) -> None:
        self.env = env
        self.journal = Journal(
            env, lock, row.id, (transition.name, transition.source, transition.target)
        )
        self.t = transition
        self.row = row
        self.run_id = row.id
        self.reverting = reverting
        self.model = RunModel(row.id, self._record_state)
        initial = RunState(row.status)
        self.machine = drive(self.model, initial)
        self.operations = self._operations()
        self.under_way: str | None = None  # the step, check or undo being done now

    def __enter__(self) -> TransitionRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.journal.close()

    # -- the run's state ------------------------------------------------------------------

    def _record_state(self, source: RunState, dest: RunState, reason: str) -> None:
        self.journal.still_locked()  # a run writes its state only while it holds the plan's lock
        failing = dest in (RunState.FAILED, RunState.UNDO_FAILED, RunState.UNDOING)
        error = self.env.secrets.mask(reason) if failing and reason else None
        detail = self.env.secrets.mask_data({"from": source.value, "reason": reason})

        def write(conn: Connection) -> None:
            set_run_status(conn, self.run_id, dest, error=error)
            if dest == RunState.SUCCEEDED:
                set_phase(conn, self.env.plan.name, self.t.target, self.run_id)
            at = self.under_way if dest == RunState.INTERRUPTED else None
            step = self.env.secrets.mask(at) if at else None
            record_event(conn, self.run_id, EventKind.STATE, dest, step=step, detail=detail)

        self.journal.in_tx(write)
        self.journal.report(EventKind.STATE, dest, None, detail, self._settle(source, dest))
        if dest in (RunState.SUCCEEDED, RunState.FAILED, RunState.UNDONE, RunState.UNDO_FAILED):
            self.journal.hook(
                "migrator_run_end",
                plan=self.env.plan.name,
                run_id=self.run_id,
                transition=self.t.name,
                status=dest.value,
            )

    # -- what this run does ---------------------------------------------------------------

    def _operations(self) -> list[Operation]:
        registry = self.env.registry
        if self.reverting is None:
            return forward_operations(registry, self.t)
        original = self.env.plan.transition(self.reverting.transition)
        return undo_operations(registry, original, self.journal.done_steps(self.reverting.id))

    # -- the life of a run ----------------------------------------------------------------

    def execute(self) -> ExitCode:
        self.journal.hook(
            "migrator_run_start",
            plan=self.env.plan.name,
            run_id=self.run_id,
            transition=self.t.name,
            operator=self.env.options.operator,
        )

        def start_and_go() -> ExitCode:
            self.model.start()
            return self._forward()

        return self.guarded(start_and_go)

    def resume(self) -> ExitCode:
        """Continue a run whose process died, or retry an undo that failed.

        A rollback run (its steps are undos, which cannot be undone themselves) is
        settled by finishing it: its remaining steps run, whether it was interrupted
        or one of them failed.
        """

        def settle() -> ExitCode:
            state = self.model.state
            if (
                state == RunState.INTERRUPTED
                and self.journal.interrupted_from() == RunState.UNDOING
            ):
                state = RunState.UNDOING  # stopped while it undid: settling it finishes the undo
            self.found_dead()
            if self.reverting is None and state in (RunState.UNDO_FAILED, RunState.UNDOING):
                undone = self.undo_everything(reason=f"undo resumed by {self.env.options.operator}")
                return ExitCode.OK if undone else ExitCode.UNDO_FAILED
            self.model.resume(reason=f"resumed by {self.env.options.operator}")
            return self._forward()

        return self.guarded(settle)

    def guarded(self, work: Callable[[], T]) -> T:
        """`work()`, the run left interrupted when the operator stops it (RunStopped, exit
        130 or 143) or when something unexpected (a bug) breaks it (InternalError, exit 6).

        A lost database and a lost lock go on up as they are: the first ends the command
        with exit 5, the run left live for the next command to find; the second means
        another session holds the plan now, and this one records nothing more.
        """
        stop = self.env.stop
        try:
            return work()
        except (StopRequested, KeyboardInterrupt) as stopped:
            if isinstance(stopped, StopRequested):
                where = str(stopped) or "stopped at a safe point"
            else:
                stop.request()  # a Ctrl-C without migrator's handlers counts as one
                during = f", while {self.under_way} ran" if self.under_way else ""
                where = f"stopped at once{during}"
            settle = settled_by(self.env.plan.file, self._undoing())
            unrecorded = self._left_interrupted(f"{where} ({stop.name})")
            raise RunStopped(
                f"{stop.name}: run {self.run_id} ({self.t.name}) of plan {self.env.plan.name} "
                f"is left interrupted ({where}){unrecorded}; {settle}",
                stop.exit_code,
            ) from None
        except MigratorError:
            raise
        except Exception as exc:
            if is_connection_lost(exc):
                raise
            error = self.env.secrets.mask(f"{type(exc).__name__}: {error_text(exc)}")
            during = f" while {self.under_way} ran" if self.under_way else ""
            settle = settled_by(self.env.plan.file, self._undoing())
            unrecorded = self._left_interrupted(f"internal error (a bug){during}: {error}")
            raise InternalError(
                f"internal error (a bug){during}: {error}; run {self.run_id} "
                f"({self.t.name}) of plan {self.env.plan.name} is left interrupted{unrecorded}; "
                f"{settle} (`--traceback` shows where the error happened)"
            ) from exc

    def _undoing(self) -> bool:
        """Whether what is left of the run is undoing: finishing it is all that settles it."""
        return self.model.state == RunState.UNDOING or self.reverting is not None

    def _settle(self, source: RunState, dest: RunState) -> str | None:
        """The command that settles the run in state `dest`, for the reporting hooks."""
        undoing = dest == RunState.UNDO_FAILED or source == RunState.UNDOING or self._undoing()
        return settle_of(self.env, self.t.target, dest, undoing)

    def _left_interrupted(self, reason: str) -> str:
        """Record the run interrupted (with the step under way), on a new connection: the
        old one may have been stopped in the middle of anything. What to add to the
        message when it could not be recorded (the run stays live; the next command finds
        it interrupted); a lost lock goes on up (another session holds the plan now)."""
        with self.env.stop.shielded():
            try:
                self.journal.fresh_connection()
                row = self.journal.in_tx(lambda conn: get_run(conn, self.run_id))
                if row is None or RunState(row.status) not in LIVE:
                    return ""  # it ended before the stop (or another session settled it)
                self._record_state(RunState(row.status), RunState.INTERRUPTED, reason)
                self.machine.set_state(RunState.INTERRUPTED, self.model)
            except MigratorError:
                raise
            except Exception as exc:
                error = self.env.secrets.mask(error_text(exc))
                return f" (not recorded: {error}; `migrator status` shows it)"
        return ""

    def found_dead(self) -> None:
        """The run was left live by a process that is gone (this one holds the plan's
        lock now): record that it was interrupted, and which step was running."""
        if self.model.state not in LIVE:
            return
        reason = INTERRUPTED
        ended = self.journal.recorded(
            EventKind.STEP,
            (EventStatus.DONE, EventStatus.FAILED, EventStatus.SKIPPED, EventStatus.NOT_UNDONE),
        )
        running = sorted(self.journal.recorded(EventKind.STEP, (EventStatus.STARTED,)) - ended)
        if running and running[-1] < len(self.operations):
            reason += f", while step {self.operations[running[-1]].label} ran"
        self.model.interrupt(reason=reason)

    def _forward(self) -> ExitCode:
        if not run_checks(self.journal, "pre", self.t.pre_checks):
            self.model.fail(reason="a pre-check failed: nothing was applied")
            return ExitCode.CHECK_FAILED
        if self.t.approval and not self.journal.approved():
            self.model.await_approval()
            if not self._approve():
                self.model.fail(reason="approval was not given: nothing was applied")
                return ExitCode.CHECK_FAILED
        self.model.apply_steps()
        done = self.journal.recorded(
            EventKind.STEP, (EventStatus.DONE, EventStatus.SKIPPED, EventStatus.NOT_UNDONE)
        )
        try:
            for op in self.operations:
                if op.index in done:
                    continue
                self.env.stop.check(f"step {op.label}")
                if op.not_undone is not None:  # passed with `rollback --force`: it stays
                    self._not_undone(EventKind.STEP, op, op.not_undone)
                    continue
                if op.label in self.env.options.skip:
                    self.journal.step_event(
                        EventKind.STEP,
                        EventStatus.SKIPPED,
                        op,
                        reason=self.env.options.skip[op.label],
                        operator=self.env.options.operator,
                    )
                    continue
                self.under_way = f"step {op.label}"
                run_step(self.journal, op)
                self.under_way = None
        except StepFailed as failure:
            self.under_way = None
            return self._fail_forward(str(failure))
        self.model.verify()
        if not run_checks(self.journal, "post", self.t.post_checks):
            return self._fail_forward("a post-check failed")
        self.model.succeed()
        return ExitCode.OK

    def _fail_forward(self, reason: str) -> ExitCode:
        """A step or post-check failed: undo the run; exit 1 if that worked, else 3."""
        return ExitCode.CHECK_FAILED if self.undo_everything(reason) else ExitCode.UNDO_FAILED

    def _approve(self) -> bool:
        options = self.env.options
        question = self._question()
        risk = self.t.risk

        def record(status: EventStatus, **how: Any) -> None:
            self.journal.event(
                EventKind.APPROVAL, status, operator=options.operator, **how, risk=risk
            )

        if options.assume_yes:
            record(EventStatus.APPROVED, via="--yes")
            return True
        if options.interactive and self.env.ask(question):
            record(EventStatus.APPROVED, via="terminal")
            return True
        if options.interactive:
            record(EventStatus.DECLINED, reason="declined at the terminal", via="terminal")
        else:
            record(EventStatus.DECLINED, reason="no terminal to ask on; pass --yes to approve")
        return False

    def _question(self) -> str:
        """What the approval asks: the hotfix, or the transition and its plan, by name."""
        t, plan = self.t, self.env.plan
        how = f"({t.source} -> {t.target}, risk {t.risk})"
        if plan.kind == "hotfix":
            return f"{'Undo' if t.reverts else 'Apply'} the hotfix {plan.name} {how}?"
        if t.reverts:
            return f"Undo transition {t.reverts} of plan {plan.name} {how}?"
        return f"Run transition {t.name} of plan {plan.name} {how}?"

    # -- undo -----------------------------------------------------------------------------

    def _not_undone(self, kind: EventKind, op: Operation, reason: str) -> None:
        """Record that `op`'s step stays as it is, its effect not undone."""
        self.journal.step_event(
            kind, EventStatus.NOT_UNDONE, op, reason=reason, operator=self.env.options.operator
        )

    def undo_everything(self, reason: str, *, accept_irreversible: bool = False) -> bool:
        """Undo every step this run completed, in reverse order; whether all of it worked.

        Steps already undone (an undo resumed after a crash) are not undone twice. A step
        marked `rollback: irreversible` is recorded not undone; unless the operator
        accepted that (`rollback --force`: `accept_irreversible`), the undo is then
        incomplete and the run ends undo_failed (exit 3), never undone (exit 1).
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
        done = self.journal.done_steps(self.run_id)
        finished = {index for index, _ in done}
        for index in sorted(
            self.journal.recorded(EventKind.STEP, (EventStatus.STARTED,)) - finished
        ):
            if not self.operations[index].transactional:  # killed while it ran
                done.append((index, PARTIAL))
        undone = self.journal.recorded(
            EventKind.UNDO, (EventStatus.DONE, EventStatus.SKIPPED, EventStatus.NOT_UNDONE)
        )
        for index, memo in reversed(done):
            op = self.operations[index]
            if index in undone:
                continue
            self.env.stop.check(f"the undo of step {op.label}")
            if op.irreversible:
                self._not_undone(EventKind.UNDO, op, op.undo_missing)
                continue
            if memo == PARTIAL and not isinstance(op.step.rollback, list | tuple):
                self.journal.step_event(
                    EventKind.UNDO,
                    EventStatus.SKIPPED,
                    op,
                    reason="it failed part way, and has no rollback to undo what it did",
                )
                continue
            if op.undo is None:
                self.journal.step_event(
                    EventKind.UNDO,
                    EventStatus.SKIPPED,
                    op,
                    reason=op.undo_missing,
                )
                continue
            try:
                self.under_way = f"the undo of step {op.label}"
                undo_step(self.journal, op, memo)
                self.under_way = None
            except (LockLost, RunTakenOver):
                raise  # someone else holds the plan or the run now: record nothing more
            except Exception as exc:
                self.under_way = None
                if is_connection_lost(exc):
                    raise  # the database went away: the undo is interrupted, not failed
                error = error_text(exc)
                self.journal.step_event(
                    EventKind.UNDO,
                    EventStatus.FAILED,
                    op,
                    error=error,
                    describe=op.undo_describe,
                    blockers=blockers_of(exc),
                )
                self.model.undo_broke(reason=f"undoing {op.label} failed: {error}")
                self.env.reporter.say(
                    "manual intervention needed: the plan is blocked until `migrator resume "
                    f"{self.env.plan.file}` or `migrator rollback {self.env.plan.file}` settles it",
                    style="red",
                )
                return False
        passed = self.journal.recorded(EventKind.UNDO, (EventStatus.NOT_UNDONE,))
        if passed and not accept_irreversible:
            labels = ", ".join(self.operations[index].label for index in sorted(passed))
            self.model.undo_broke(reason=f"{reason}; not undone: {labels} (rollback: irreversible)")
            self.env.reporter.say(
                f"manual intervention needed: {labels} cannot be undone; the plan is blocked "
                f"until `migrator rollback --force {self.env.plan.file}` records it not undone",
                style="red",
            )
            return False
        self.model.undo_complete(reason=reason)
        return True
