"""Running plans: the path of transitions, one locked and recorded run per transition,
checks, approvals, steps, automatic undo in reverse order, resume and rollback.

Each step runs in its own transaction, committed together with the audit event
that says it is done, so the audit trail is exactly what happened: a run killed
at any instant is resumed from the step after the last one recorded done.
Steps that cannot run in a transaction (HTTP calls, people, CREATE INDEX
CONCURRENTLY) are recorded right after they ran.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from . import store
from .console import Reporter
from .context import CheckOutcome, StepContext
from .errors import ExitCode, MigratorError, PlanError, UsageError
from .interpolate import InterpolationError, interpolate, references
from .locking import PlanLock
from .masking import Secrets
from .plan.model import Plan, Transition
from .plugins import PluginManager
from .registry import Registry
from .runstate import RunModel, RunState, drive

DEFAULT_LOCK_TIMEOUT = 5.0
TRANSIENT_RETRIES = 3  # a lock not granted in time, a lost connection


class NoPath(MigratorError):
    """No transition path, or more than one shortest path, between two phases."""


class PlanBlocked(MigratorError):
    """An earlier run must be settled (resume or rollback) before this plan moves again."""

    exit_code = ExitCode.UNDO_FAILED


class StepFailed(Exception):
    def __init__(self, label: str, error: str) -> None:
        super().__init__(f"step {label} failed: {error}")
        self.label = label
        self.error = error


def find_path(plan: Plan, source: str, target: str) -> list[Transition]:
    """The shortest path of transitions from `source` to `target`; ambiguity is an error."""
    if target not in plan.phases:
        raise NoPath(
            f"phase '{target}' is not a phase of plan {plan.name} ({', '.join(plan.phases)})"
        )
    if source == target:
        return []
    # Breadth-first, counting how many shortest paths reach each phase.
    best: dict[str, list[list[Transition]]] = {source: [[]]}
    queue = deque([source])
    while queue:
        here = queue.popleft()
        for t in plan.transitions:
            if t.source != here:
                continue
            paths = [[*p, t] for p in best[here]]
            depth = len(paths[0])
            known = best.get(t.target)
            if known is None:
                best[t.target] = paths
                queue.append(t.target)
            elif len(known[0]) == depth:
                known.extend(paths)
    found = best.get(target)
    if not found:
        raise NoPath(f"plan {plan.name} has no path of transitions from '{source}' to '{target}'")
    if len(found) > 1:
        shown = "; ".join(" -> ".join(t.name for t in p) for p in found)
        raise NoPath(
            f"more than one shortest path from '{source}' to '{target}' ({shown}): "
            "apply an intermediate phase first"
        )
    return found[0]


def resolve_variables(plan: Plan, overrides: dict[str, str]) -> dict[str, Any]:
    """The plan's variables with `--var` overrides, typed like their defaults."""
    values = dict(plan.variables)
    for name, raw in overrides.items():
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise UsageError(
                f"--var {name}: plan {plan.name} has no variable {name} (known: {known})"
            )
        default = values[name]
        values[name] = _coerce(name, raw, default)
    return values


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("true", "yes", "1", "on"):
            return True
        if raw.lower() in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"--var {name}={raw}: expected true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"--var {name}={raw}: expected a whole number") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"--var {name}={raw}: expected a number") from None
    return raw


def check_environment(plan: Plan, transitions: list[Transition]) -> None:
    """Every `${env:NAME}` the transitions use must be set: else a PlanError pointing at it."""
    import os

    doc = plan.source
    problems = []
    roots = [t.path for t in transitions] if plan.kind == "phased" else [()]
    for path, value in _strings_under(doc.data, ()):
        if not any(path[: len(r)] == r for r in roots):
            continue
        try:
            refs = list(references(value))
        except InterpolationError:
            continue
        for ref in refs:
            if ref.env and ref.name not in os.environ:
                problems.append(doc.problem(path, f"environment variable {ref.name} is not set"))
    if problems:
        raise PlanError(problems)


def _strings_under(
    data: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _strings_under(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _strings_under(v, (*path, i))


@dataclass
class RunOptions:
    """How runs behave: who runs them, and how questions are answered."""

    operator: str
    variables: dict[str, Any]
    assume_yes: bool = False
    interactive: bool = False
    force: bool = False
    skip: dict[str, str] = field(default_factory=dict)
    confirm: Callable[[str], bool] = field(default=lambda question: False)


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


class Runner:
    """Moves one plan on one database: apply, rollback, resume."""

    def __init__(
        self,
        db: Engine,
        plan: Plan,
        registry: Registry,
        pm: PluginManager,
        reporter: Reporter,
        options: RunOptions,
        secrets: Secrets,
    ) -> None:
        self.db = db
        self.plan = plan
        self.registry = registry
        self.pm = pm
        self.reporter = reporter
        self.options = options
        self.secrets = secrets

    # -- commands -------------------------------------------------------------------------

    def apply(self, target: str) -> ExitCode:
        with (
            PlanLock(self.db, self.plan.name, self.options.operator) as lock,
            self.db.connect() as conn,
        ):
            store.ensure_schema(conn)
            with conn.begin():
                phase = store.current_phase(conn, self.plan.name, self.plan.initial_phase)
                open_run = store.open_run(conn, self.plan.name)
            path = find_path(self.plan, phase, target)
            if open_run is not None:
                if (
                    open_run.status != "undo_failed"
                    and path
                    and open_run.transition == path[0].name
                ):
                    self.reporter.say(
                        f"run {open_run.id} of {open_run.transition} was interrupted: resuming it"
                    )
                    code = self._resume_run(conn, lock, open_run)
                    if code != ExitCode.OK:
                        return code
                    path = path[1:]
                else:
                    raise self._blocked(open_run)
            if not path:
                self.reporter.say(
                    f"plan {self.plan.name} is already in phase '{target}': nothing to do"
                )
                return ExitCode.OK
            check_environment(self.plan, path)
            for t in path:
                code = self._new_run(conn, lock, t)
                if code != ExitCode.OK:
                    return code
            self.reporter.say(f"plan {self.plan.name} is now in phase '{target}'", style="green")
            return ExitCode.OK

    def rollback(self) -> ExitCode:
        with (
            PlanLock(self.db, self.plan.name, self.options.operator) as lock,
            self.db.connect() as conn,
        ):
            store.ensure_schema(conn)
            with conn.begin():
                open_run = store.open_run(conn, self.plan.name)
                last = store.last_succeeded_run(conn, self.plan.name)
            if open_run is not None:
                self.reporter.say(
                    f"run {open_run.id} ({open_run.transition}) is "
                    f"{_shown_status(open_run.status)}: undoing what it completed"
                )
                self._checksum_guard(open_run)
                lock.record_holder(open_run.id)
                t, reverting = self._transition_of(conn, open_run)
                with TransitionRun(self, t, open_run, reverting) as run:
                    reason = f"rollback requested by {self.options.operator}"
                    undone = run.undo_everything(reason=reason)
                return ExitCode.OK if undone else ExitCode.UNDO_FAILED
            if last is None:
                self.reporter.say(f"plan {self.plan.name} has no completed transition to roll back")
                return ExitCode.OK
            if last.reverts is not None:
                self.reporter.say(
                    f"nothing to roll back: the last run ({last.id}) took run {last.reverts} back; "
                    f"`migrator apply --to {last.from_phase}` goes forward again"
                )
                return ExitCode.OK
            back = self._reverse_of(last)
            check_environment(self.plan, [back])
            return self._new_run(conn, lock, back, takes_back=last)

    def resume(self) -> ExitCode:
        with (
            PlanLock(self.db, self.plan.name, self.options.operator) as lock,
            self.db.connect() as conn,
        ):
            store.ensure_schema(conn)
            with conn.begin():
                open_run = store.open_run(conn, self.plan.name)
            if open_run is None:
                self.reporter.say(
                    f"plan {self.plan.name} has no interrupted run: nothing to resume"
                )
                return ExitCode.OK
            return self._resume_run(conn, lock, open_run)

    # -- helpers --------------------------------------------------------------------------

    def _blocked(self, run: store.RunRow) -> PlanBlocked:
        what = "could not be undone" if run.status == "undo_failed" else "was interrupted"
        return PlanBlocked(
            f"run {run.id} ({run.transition}) of plan {self.plan.name} {what}: settle it with "
            f"`migrator resume {self.plan.file}` or `migrator rollback {self.plan.file}` first"
        )

    def _checksum_guard(self, run: store.RunRow) -> None:
        if run.plan_checksum != self.plan.checksum and not self.options.force:
            raise UsageError(
                f"{self.plan.file} changed since run {run.id} started (checksum differs): "
                "check the change, then repeat with --force"
            )

    def _reverse_of(self, last: store.RunRow) -> Transition:
        for t in self.plan.transitions:
            if t.source == last.to_phase and t.target == last.from_phase and t.reverts is None:
                return t
        for t in self.plan.transitions:
            if t.reverts == last.transition:
                return t
        return self._revert_transition(last)

    def _revert_transition(self, last: store.RunRow) -> Transition:
        """A transition that undoes the steps of run `last` in reverse order."""
        original = self.plan.transition(last.transition)
        return Transition(
            name=f"revert {original.name}",
            source=last.to_phase,
            target=last.from_phase,
            risk=original.risk,
            approval=False,
            description=f"undo the steps of {original.name} in reverse order",
            pre_checks=(),
            steps=(),
            post_checks=(),
            path=original.path,
            reverts=original.name,
        )

    def _new_run(
        self,
        conn: Connection,
        lock: PlanLock,
        t: Transition,
        takes_back: store.RunRow | None = None,
    ) -> ExitCode:
        """Run transition `t`; `takes_back` is the run a rollback takes back (recorded).

        A transition that `reverts` another runs the undo of that run's steps.
        """
        reverting = None
        if t.reverts is not None:
            if takes_back is None:
                with conn.begin():
                    takes_back = store.last_succeeded_run(conn, self.plan.name)
            if takes_back is None or takes_back.transition != t.reverts:
                raise UsageError(f"{t.name} undoes {t.reverts}, which has not been applied")
            reverting = takes_back
            self._checksum_guard(reverting)
        with conn.begin():
            run_id = store.create_run(
                conn,
                plan=self.plan.name,
                transition=t.name,
                from_phase=t.source,
                to_phase=t.target,
                operator=self.options.operator,
                checksum=self.plan.checksum,
                plan_file=self.plan.file,
                reverts=takes_back.id if takes_back else None,
            )
            row = store.get_run(conn, run_id)
        assert row is not None
        lock.record_holder(run_id)
        arrow = f"{t.source} -> {t.target}"
        self.reporter.say(f"run {run_id}: {t.name} ({arrow})", style="bold")
        with TransitionRun(self, t, row, reverting) as run:
            return run.execute()

    def _transition_of(
        self, conn: Connection, run: store.RunRow
    ) -> tuple[Transition, store.RunRow | None]:
        """The transition a recorded run ran, and the run whose steps it undoes (if any)."""
        taken_back = None
        if run.reverts is not None:
            with conn.begin():
                taken_back = store.get_run(conn, run.reverts)
        try:
            t = self.plan.transition(run.transition)
        except KeyError:
            if taken_back is None:
                raise UsageError(
                    f"run {run.id} ran transition {run.transition}, which {self.plan.file} no "
                    "longer has: restore the plan file it ran with"
                ) from None
            t = self._revert_transition(taken_back)
        return t, (taken_back if t.reverts is not None else None)

    def _resume_run(self, conn: Connection, lock: PlanLock, run: store.RunRow) -> ExitCode:
        self._checksum_guard(run)
        lock.record_holder(run.id)
        t, reverting = self._transition_of(conn, run)
        self.reporter.say(
            f"resuming run {run.id}: {t.name} ({run.from_phase} -> {run.to_phase})", style="bold"
        )
        with TransitionRun(self, t, run, reverting) as transition_run:
            return transition_run.resume()

    def step_context(self, conn: Connection, run_id: int | None) -> StepContext:
        secrets = self.secrets
        variables = self.options.variables

        def resolve(value: str) -> str:
            import os

            for ref in references(value):
                if ref.env and ref.name in os.environ:
                    secrets.add(os.environ[ref.name])
            return interpolate(value, variables)

        return StepContext(
            connection=conn,
            variables=variables,
            plan=self.plan.name,
            operator=self.options.operator,
            run_id=run_id,
            assume_yes=self.options.assume_yes,
            interactive=self.options.interactive,
            confirm=self.options.confirm,
            say=self.reporter.say,
            interpolate=resolve,
            services={"secrets": secrets, "registry": self.registry},
        )


def _shown_status(status: str) -> str:
    return "undo failed" if status == "undo_failed" else "interrupted"


class TransitionRun:
    """One run of one transition, driven by the run state machine."""

    def __init__(
        self,
        runner: Runner,
        transition: Transition,
        row: store.RunRow,
        reverting: store.RunRow | None,
    ) -> None:
        self.r = runner
        self.conn = runner.db.connect()  # its own: replaced if the server drops it
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

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        if self.conn.in_transaction():
            yield self.conn
        else:
            with self.conn.begin():
                yield self.conn

    def event(self, kind: str, status: str, step: str | None = None, **detail: Any) -> None:
        detail = self.r.secrets.mask_data(detail)
        with self._tx() as conn:
            store.record_event(conn, self.run_id, kind, status, step=step, detail=detail)
        self.r.reporter.event(
            self.r.plan.name,
            self.run_id,
            {"kind": kind, "status": status, "step": step, "detail": detail},
        )

    def _record_state(self, source: RunState, dest: RunState, reason: str) -> None:
        with self._tx() as conn:
            failing = dest in (RunState.FAILED, RunState.UNDO_FAILED, RunState.UNDOING)
            store.set_run_status(
                conn, self.run_id, dest.value, error=reason if failing and reason else None
            )
            if dest == RunState.SUCCEEDED:
                store.set_phase(conn, self.r.plan.name, self.t.target, self.run_id)
            self.event("state", dest.value, **{"from": source.value, "reason": reason})
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
            self.event("hook", "failed", detail=f"{name}: {type(exc).__name__}: {exc}")

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
        """(index, memo) of every step recorded done in `run_id`, in the order they ran."""
        with self._tx() as conn:
            rows = (
                conn.execute(
                    text(
                        "select detail from migrator.events where run_id = :r and kind = 'step' "
                        "and status = 'done' order by id"
                    ),
                    {"r": run_id},
                )
                .scalars()
                .all()
            )
        return [(int(d["index"]), d.get("memo")) for d in rows]

    def _recorded(self, kind: str, statuses: tuple[str, ...]) -> set[int]:
        with self._tx() as conn:
            rows = (
                conn.execute(
                    text(
                        "select detail from migrator.events where run_id = :r and kind = :k "
                        "and status = any(:s)"
                    ),
                    {"r": self.run_id, "k": kind, "s": list(statuses)},
                )
                .scalars()
                .all()
            )
        return {int(d["index"]) for d in rows}

    def _approved(self) -> bool:
        with self._tx() as conn:
            return bool(
                conn.execute(
                    text(
                        "select 1 from migrator.events where run_id = :r and kind = 'approval' "
                        "and status = 'approved'"
                    ),
                    {"r": self.run_id},
                ).first()
            )

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
        """Continue a run whose process died, or retry an undo that failed."""
        state = self.model.state
        if state in (RunState.UNDO_FAILED, RunState.UNDOING):
            undone = self.undo_everything(reason=f"undo resumed by {self.r.options.operator}")
            return ExitCode.OK if undone else ExitCode.UNDO_FAILED
        if state != RunState.INTERRUPTED:
            self.model.interrupt(reason="its process ended before the run finished")
        self.model.resume(reason=f"resumed by {self.r.options.operator}")
        return self._forward()

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
        done = self._recorded("step", ("done", "skipped"))
        try:
            for op in self.operations:
                if op.index in done:
                    continue
                if op.label in self.r.options.skip:
                    self.event(
                        "step",
                        "skipped",
                        op.label,
                        index=op.index,
                        action=op.action,
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
        if options.assume_yes:
            self.event("approval", "approved", operator=options.operator, via="--yes")
            return True
        if options.interactive and options.confirm(question):
            self.event("approval", "approved", operator=options.operator, via="terminal")
            return True
        how = "declined at the terminal" if options.interactive else "needs --yes or a terminal"
        self.event("approval", "declined", operator=options.operator, reason=how)
        return False

    def _reconnect(self) -> None:
        """Replace a connection the server dropped; nothing uncommitted survived it."""
        with suppress(Exception):
            self.conn.close()
        self.conn = self.r.db.connect()

    # -- steps ----------------------------------------------------------------------------

    def _run(self, op: Operation) -> None:
        ctx = self.r.step_context(self.conn, self.run_id)
        self.event("step", "started", op.label, index=op.index, action=op.action)
        self._hook("migrator_before_step", ctx=ctx, step=op.label, action=op.action, config=op.step)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                memo = self._attempt(op, ctx, started)
                break
            except Exception as exc:
                error = _error_text(exc)
                transient = _is_lock_timeout(exc) or _is_disconnect(exc)
                allowed = max(op.retries, TRANSIENT_RETRIES) if transient else op.retries
                if _is_disconnect(exc):
                    self._reconnect()  # the step's transaction died with the connection
                    ctx = self.r.step_context(self.conn, self.run_id)
                if attempt <= allowed:
                    pause = min(0.5 * 2 ** (attempt - 1), 10.0)
                    self.event(
                        "step",
                        "retry",
                        op.label,
                        index=op.index,
                        action=op.action,
                        attempt=attempt,
                        error=error,
                        pause=pause,
                    )
                    time.sleep(pause)
                    continue
                self.event(
                    "step",
                    "failed",
                    op.label,
                    index=op.index,
                    action=op.action,
                    error=error,
                    attempts=attempt,
                    seconds=time.monotonic() - started,
                    describe=op.describe,
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
            self.event(
                "step",
                "done",
                op.label,
                index=op.index,
                action=op.action,
                memo=memo,
                seconds=time.monotonic() - started,
                describe=op.describe,
            )

        if op.transactional:
            with self.conn.begin():
                self._set_timeouts(op)
                memo = op.do(ctx)
                done(memo)  # committed together with what the step did
            return memo
        with self.r.db.connect() as side:
            side = side.execution_options(isolation_level="AUTOCOMMIT")
            if op.timeout:
                side.execute(
                    text("select set_config('statement_timeout', :v, false)"),
                    {"v": f"{int(op.timeout * 1000)}ms"},
                )
            memo = op.do(self.r.step_context(side, self.run_id))
        done(memo)
        return memo

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
            self.model.interrupt(reason="its process ended before the run finished")
        if self.model.state != RunState.UNDOING:
            self.model.undo(reason=reason)
        if self.reverting is not None:
            self.model.undo_broke(
                reason=f"{reason}; a rollback that stopped half way cannot be undone itself: "
                "resume it, or settle by hand"
            )
            return False
        done = self._done_steps(self.run_id)
        undone = self._recorded("undo", ("done", "skipped"))
        for index, memo in reversed(done):
            op = self.operations[index]
            if index in undone:
                continue
            if op.undo is None:
                self.event(
                    "undo",
                    "skipped",
                    op.label,
                    index=index,
                    action=op.action,
                    reason=op.undo_missing,
                )
                continue
            try:
                self._undo(op, memo)
            except Exception as exc:
                error = _error_text(exc)
                self.event("undo", "failed", op.label, index=index, action=op.action, error=error)
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
        assert op.undo is not None
        started = time.monotonic()
        if op.undo_transactional:
            with self.conn.begin():
                self._set_timeouts(op)
                op.undo(self.r.step_context(self.conn, self.run_id), memo)
                self.event(
                    "undo",
                    "done",
                    op.label,
                    index=op.index,
                    action=op.action,
                    seconds=time.monotonic() - started,
                )
            return
        with self.r.db.connect() as side:
            side = side.execution_options(isolation_level="AUTOCOMMIT")
            op.undo(self.r.step_context(side, self.run_id), memo)
        self.event(
            "undo",
            "done",
            op.label,
            index=op.index,
            action=op.action,
            seconds=time.monotonic() - started,
        )

    # -- checks ---------------------------------------------------------------------------

    def _checks(self, phase: str, checks: tuple[Any, ...]) -> bool:
        """Evaluate every check (all of them, not just up to the first failure)."""
        passed = True
        for index, check in enumerate(checks):
            outcome, seconds, samples = evaluate_check(self.r, self.conn, self.run_id, check)
            label = check.label(index)
            warn = check.on_fail == "warn"
            status = "passed" if outcome.passed else ("warned" if warn else "failed")
            self.event(
                "check",
                status,
                label,
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


def evaluate_check(
    runner: Runner, conn: Connection, run_id: int | None, check: Any, *, read_only: bool = False
) -> tuple[CheckOutcome, float, int]:
    """Evaluate a check with its wait or soak; (outcome, seconds, samples taken)."""
    spec = runner.registry.checks[check.check_key]
    started = time.monotonic()

    def once() -> CheckOutcome:
        with conn.begin() as tx:
            if read_only:
                conn.execute(text("set transaction read only"))
            try:
                return spec.evaluate(runner.step_context(conn, run_id), check)  # type: ignore[no-any-return]
            except Exception as exc:
                expected = getattr(check, "expect", None)
                return CheckOutcome(False, None, _shown(expected), f"error: {_error_text(exc)}")
            finally:
                tx.rollback()  # a check never changes anything

    if check.soak is not None and not read_only:
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
    if check.wait is not None and not read_only:
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


def _error_text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = str(orig).strip().splitlines()
        return first[0] if first else type(orig).__name__
    return f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)


def _is_disconnect(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _is_lock_timeout(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03"
