"""Running plans: apply, rollback and resume, each transition one locked, recorded run.

The moving parts live beside this module: `plan.graph` (which transitions),
`plan.variables` (what they are given), `environment` (what a run is given),
`transition` (one run's life), `checks` (checks).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from migrator import state
from migrator.db.failures import error_text
from migrator.db.reconnect import is_connection_lost, reconnect_window
from migrator.engine.environment import RunEnvironment, RunOptions
from migrator.engine.locks import PlanLock
from migrator.engine.operations import begun_outside_transaction
from migrator.engine.stopping import StopRequested
from migrator.engine.transition import TransitionRun
from migrator.errors import ConnectionLost, ExitCode, MigratorError, RunStopped, UsageError
from migrator.plan.graph import find_path
from migrator.plan.model import Transition
from migrator.plan.variables import check_environment
from migrator.plugin.registry import Registry

__all__ = ["PlanBlocked", "RunEnvironment", "RunOptions", "Runner", "find_path"]


class PlanBlocked(MigratorError):
    """An earlier run must be settled (resume or rollback) before this plan moves again:
    exit 3 when its undo failed, 2 when it was interrupted (nothing was touched now)."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Runner:
    """Moves one plan on one database: apply, rollback, resume.

    Besides the commands, the pieces they are made of are public for a walker that
    moves a plan edge by edge (a rehearsal): `locked`, `blocked`, `reverse_of`, `new_run`.
    """

    def __init__(self, env: RunEnvironment) -> None:
        self.env = env

    # -- commands -------------------------------------------------------------------------

    def apply(self, target: str) -> ExitCode:
        with self.locked() as (lock, conn):
            with conn.begin():
                phase = state.current_phase(conn, self.env.plan.name, self.env.plan.initial_phase)
                open_run = state.open_run(conn, self.env.plan.name)
            path = find_path(self.env.plan, phase, target)
            if open_run is not None:
                if (
                    open_run.status != state.RunStatus.UNDO_FAILED
                    and path
                    and open_run.transition == path[0].name
                ):
                    check_environment(self.env.plan, path)  # all of it, before anything runs
                    self.env.reporter.say(
                        f"run {open_run.id} of {open_run.transition} was interrupted: resuming it"
                    )
                    code = self._resume_run(conn, lock, open_run)
                    if code != ExitCode.OK:
                        return code
                    with conn.begin():
                        ended = state.get_run(conn, open_run.id)
                    if ended is None or ended.status != state.RunStatus.SUCCEEDED:
                        # it was undoing (a failed check): finishing the undo is not the move
                        self.env.reporter.say(
                            f"run {open_run.id} of {open_run.transition} ended undone: the plan "
                            f"stays in phase '{phase}'",
                            style="red",
                        )
                        return ExitCode.CHECK_FAILED
                    path = path[1:]
                else:
                    raise self.blocked(open_run)
            if not path:
                self.env.reporter.say(
                    f"plan {self.env.plan.name} is already in phase '{target}': nothing to do"
                )
                return ExitCode.OK
            check_environment(self.env.plan, path)
            for t in path:
                self.env.stop.check(f"transition {t.name}: the plan is still in phase {t.source}")
                code = self.new_run(lock, t)
                if code != ExitCode.OK:
                    return code
            return ExitCode.OK  # the command's last line names the phase (api/runs.py)

    def rollback(self) -> ExitCode:
        with self.locked() as (lock, conn):
            with conn.begin():
                open_run = state.open_run(conn, self.env.plan.name)
                last = state.last_succeeded_run(conn, self.env.plan.name)
            if open_run is not None:
                self._verify_trails(conn, open_run)
                self._checksum_guard(open_run)
                t, reverting = self._transition_of(conn, open_run)
                if reverting is None:
                    self._refuse_irreversible(conn, open_run, t)
                lock.own(open_run.id)
                shown = f"run {open_run.id} ({open_run.transition}) is "
                shown += _shown_status(open_run.status)
                with TransitionRun(self.env, lock, t, open_run, reverting) as run:
                    if reverting is not None:  # a rollback itself: taking back means finishing it
                        self.env.reporter.say(f"{shown}: finishing it")
                        return run.resume()
                    self.env.reporter.say(f"{shown}: undoing what it completed")
                    run.found_dead()
                    reason = f"rollback requested by {self.env.options.operator}"
                    # irreversible steps were refused above, unless --force accepted them
                    undone = run.guarded(
                        lambda: run.undo_everything(reason=reason, accept_irreversible=True)
                    )
                return ExitCode.OK if undone else ExitCode.UNDO_FAILED
            if last is None:
                self.env.reporter.say(
                    f"plan {self.env.plan.name} has no completed transition to roll back"
                )
                return ExitCode.OK
            if last.reverts is not None:
                self.env.reporter.say(
                    f"nothing to roll back: the last run ({last.id}) took run {last.reverts} back; "
                    f"`migrator apply --to {last.from_phase}` goes forward again"
                )
                return ExitCode.OK
            back = self.reverse_of(last)
            check_environment(self.env.plan, [back])
            return self.new_run(lock, back, takes_back=last)

    def resume(self) -> ExitCode:
        with self.locked() as (lock, conn):
            with conn.begin():
                open_run = state.open_run(conn, self.env.plan.name)
            if open_run is None:
                self.env.reporter.say(
                    f"plan {self.env.plan.name} has no interrupted run: nothing to resume"
                )
                return ExitCode.OK
            return self._resume_run(conn, lock, open_run)

    # -- helpers --------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[tuple[PlanLock, Connection]]:
        """Hold the plan's lock (or raise LockHeld), with schema `migrator` in place, and
        SIGINT and SIGTERM handled (see `engine.stopping`): a stop outside a run's life
        is RunStopped too.

        A database that goes away for longer than the reconnect window ends the command
        with ConnectionLost (exit 5), the run under way left interrupted.
        """
        stop = self.env.stop
        try:
            with (
                stop.handling(),
                PlanLock(self.env.db, self.env.plan.name, self.env.options.operator) as lock,
                self.env.db.connect() as conn,
            ):
                state.ensure_schema(conn)
                yield lock, conn
        except MigratorError:
            raise
        except (StopRequested, KeyboardInterrupt) as stopped:  # outside a run: none is left
            stop.request()
            why = str(stopped) if isinstance(stopped, StopRequested) else "stopped at once"
            raise RunStopped(
                f"{stop.name}: {why}; no run was under way (`migrator status "
                f"{self.env.plan.file}` shows where the plan is)",
                stop.exit_code,
            ) from None
        except Exception as exc:
            if not is_connection_lost(exc):
                raise
            file = self.env.plan.file
            raise ConnectionLost(
                f"lost the database and could not reconnect within {reconnect_window():g}s "
                f"({self.env.secrets.mask(error_text(exc))}): any run under way is left "
                f"interrupted; once the database is back, `migrator status {file}` shows it, "
                f"and `migrator resume {file}` or `migrator rollback {file}` settles it"
            ) from None

    def blocked(self, run: state.RunRow) -> PlanBlocked:
        what = (
            "could not be undone"
            if run.status == state.RunStatus.UNDO_FAILED
            else "was interrupted"
        )
        plan = self.env.plan
        return PlanBlocked(
            f"run {run.id} ({run.transition}) of plan {plan.name} {what}: settle it with "
            f"`migrator resume {plan.file}` or `migrator rollback {plan.file}` first",
            ExitCode.UNDO_FAILED if run.status == state.RunStatus.UNDO_FAILED else ExitCode.INVALID,
        )

    def _verify_trails(self, conn: Connection, run: state.RunRow) -> None:
        """Refuse (TrailEdited, exit 2), before anything is done, to act on a run whose
        audit trail was edited, or that takes back a run whose trail was: what a resume
        or a rollback does is read from those trails (`migrator.state.chain`)."""
        with conn.begin():
            runs = [run.id] if run.reverts is None else [run.id, run.reverts]
            state.refuse_edited(conn, runs, self.env.plan.file)

    def _checksum_guard(self, run: state.RunRow) -> None:
        if run.plan_checksum != self.env.plan.checksum and not self.env.options.force:
            raise UsageError(
                f"{self.env.plan.file} changed since run {run.id} started (checksum differs): "
                "check the change, then repeat with --force"
            )

    def _refuse_irreversible(self, conn: Connection, run: state.RunRow, t: Transition) -> None:
        """Refuse (exit 2) to take back run `run` of `t` past a step it completed that is
        `rollback: irreversible`, unless --force: the step is then recorded not undone."""
        passed = irreversible_done(conn, self.env.registry, run, t)
        if not passed or self.env.options.force:
            return
        names = ", ".join(f"'{name}'" for name in passed)
        steps = "step" if len(passed) == 1 else "steps"
        raise UsageError(
            f"rolling back run {run.id} ({run.transition}) would pass {steps} {names}, "
            f"marked `rollback: irreversible`: its effect would stay while the plan went back "
            f"to phase '{run.from_phase}'. Nothing was changed. `migrator rollback "
            f"{self.env.plan.file} --dry-run` shows the rollback; `--force` goes on and "
            "records the step not undone"
        )

    def reverse_of(self, last: state.RunRow) -> Transition:
        for t in self.env.plan.transitions:
            if t.source == last.to_phase and t.target == last.from_phase and t.reverts is None:
                return t
        for t in self.env.plan.transitions:
            if t.reverts == last.transition:
                return t
        return self._revert_transition(last)

    def _revert_transition(self, last: state.RunRow) -> Transition:
        """A transition that undoes the steps of run `last` in reverse order."""
        original = self.env.plan.transition(last.transition)
        return Transition(
            name=f"revert {original.name}",
            source=last.to_phase,
            target=last.from_phase,
            risk=original.risk,
            approval=original.approval,  # asked on the way back as on the way there
            description=f"undo the steps of {original.name} in reverse order",
            pre_checks=(),
            steps=(),
            post_checks=(),
            path=original.path,
            reverts=original.name,
        )

    def new_run(
        self, lock: PlanLock, t: Transition, takes_back: state.RunRow | None = None
    ) -> ExitCode:
        """Run transition `t` under `lock`; `takes_back` is the run a rollback takes back.

        A transition that `reverts` another runs the undo of that run's steps. The run
        is created on a connection of its own, not on the command's: a server restart
        during the transition before may have closed that one.
        """
        reverting = None
        with self.env.db.connect() as conn:
            if t.reverts is not None:
                if takes_back is None:
                    with conn.begin():
                        takes_back = state.last_succeeded_run(conn, self.env.plan.name)
                if takes_back is None or takes_back.transition != t.reverts:
                    raise UsageError(f"{t.name} undoes {t.reverts}, which has not been applied")
                reverting = takes_back
                self._verify_trails(conn, reverting)  # its trail says what to undo
                self._checksum_guard(reverting)
                # `rollback`, or `apply` to the phase a hotfix or a transition came from
                self._refuse_irreversible(
                    conn, reverting, self.env.plan.transition(reverting.transition)
                )
            with conn.begin():
                run_id = state.create_run(
                    conn,
                    plan=self.env.plan.name,
                    transition=t.name,
                    from_phase=t.source,
                    to_phase=t.target,
                    operator=self.env.options.operator,
                    checksum=self.env.plan.checksum,
                    plan_file=self.env.plan.file,
                    reverts=takes_back.id if takes_back else None,
                    owner=lock.owner,
                    owned_by=lock.owned_by,
                )
                row = state.get_run(conn, run_id)
        assert row is not None
        lock.own(run_id)
        arrow = f"{t.source} -> {t.target}"
        self.env.reporter.say(f"run {run_id}: {t.name} ({arrow})", style="bold")
        with TransitionRun(self.env, lock, t, row, reverting) as run:
            return run.execute()

    def _transition_of(
        self, conn: Connection, run: state.RunRow
    ) -> tuple[Transition, state.RunRow | None]:
        """The transition a recorded run ran, and the run whose steps it undoes (if any)."""
        taken_back = None
        if run.reverts is not None:
            with conn.begin():
                taken_back = state.get_run(conn, run.reverts)
        try:
            t = self.env.plan.transition(run.transition)
        except KeyError:
            if taken_back is None:
                raise UsageError(
                    f"run {run.id} ran transition {run.transition}, which {self.env.plan.file} no "
                    "longer has: restore the plan file it ran with"
                ) from None
            t = self._revert_transition(taken_back)
        return t, (taken_back if t.reverts is not None else None)

    def _resume_run(self, conn: Connection, lock: PlanLock, run: state.RunRow) -> ExitCode:
        self._verify_trails(conn, run)
        self._checksum_guard(run)
        t, reverting = self._transition_of(conn, run)
        check_environment(self.env.plan, [t])  # before anything runs
        if self.env.options.batch_size is not None:
            with conn.begin():
                state.write_control(
                    conn,
                    self.env.plan.name,
                    self.env.options.operator,
                    batch_size=self.env.options.batch_size,
                    run_id=run.id,
                )
        lock.own(run.id)
        self.env.reporter.say(
            f"resuming run {run.id}: {t.name} ({run.from_phase} -> {run.to_phase})", style="bold"
        )
        with TransitionRun(self.env, lock, t, run, reverting) as transition_run:
            return transition_run.resume()


def irreversible_done(
    conn: Connection, registry: Registry, run: state.RunRow, t: Transition
) -> list[str]:
    """The labels of the steps of `t` that run `run` completed (or began, outside a
    transaction: killed while they ran) and that are `rollback: irreversible`, in the
    order they ran."""
    with conn.begin():
        indexes = [int(detail["index"]) for _, detail in state.steps_done(conn, run.id)]
        indexes += begun_outside_transaction(registry, t, state.steps_unended(conn, run.id))
    return [
        t.steps[i].label(i)
        for i in dict.fromkeys(indexes)
        if i < len(t.steps) and t.steps[i].rollback == "irreversible"
    ]


def _shown_status(status: str) -> str:
    return "undo failed" if status == state.RunStatus.UNDO_FAILED else "interrupted"
