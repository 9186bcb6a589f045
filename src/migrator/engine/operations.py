"""What a run does, step by step: each plan step as an `Operation`, with how it is undone.

A forward run's operations are its transition's steps; a rollback run's (a transition
that `reverts` another) are the undos of the steps the run it takes back completed, in
reverse order. The engine runs operations (`engine.steps`) without knowing which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrator.db.lockwait import DEFAULT_LOCK_TIMEOUT
from migrator.plan.model import Transition
from migrator.plugin.context import StepContext
from migrator.plugin.registry import Registry

PARTIAL = {"partial": True}  # the memo of a step that failed part way


class PluginExited(Exception):
    """An action raised SystemExit: a plugin's bug, never an exit code of migrator's."""


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
    irreversible: bool = False  # `rollback: irreversible`: no undo exists
    # in a rollback run: why this operation (the undo of an irreversible step) undoes
    # nothing; the run records the step `not_undone` instead of running it
    not_undone: str | None = None

    @property
    def lock_wait(self) -> float:
        """How long each statement of it may wait for a lock (seconds): its step's
        `lock_timeout`, else the default."""
        return self.lock_timeout or DEFAULT_LOCK_TIMEOUT


def forward_operations(registry: Registry, t: Transition) -> list[Operation]:
    """The operations of transition `t`: its steps, in order."""
    return [step_operation(registry, i, s) for i, s in enumerate(t.steps)]


def undo_operations(
    registry: Registry, original: Transition, done: list[tuple[int, Any]]
) -> list[Operation]:
    """The operations of a rollback run: the undo of each step of `original` that its run
    completed (`done`: index and memo, in the order they ran), last first."""
    ops = []
    for n, (index, memo) in enumerate(reversed(done)):
        source = step_operation(registry, index, original.steps[index])
        ops.append(reverting_operation(n, source, memo))
    return ops


def begun_outside_transaction(registry: Registry, t: Transition, unended: list[int]) -> list[int]:
    """Of the steps of `t` a run began and never ended (`unended`, see
    `migrator.state.steps_unended`), those that ran outside a transaction: a process
    killed while they ran may have left part of their effect (a step in a transaction
    left nothing)."""
    steps = t.steps
    return [
        i
        for i in unended
        if i < len(steps) and not registry.actions[steps[i].action_key].in_transaction(steps[i])
    ]


def step_operation(registry: Registry, index: int, step: Any) -> Operation:
    """The operation of plan step `step` (number `index`), with how it is undone."""
    spec = registry.actions[step.action_key]
    undo: Callable[[StepContext, Any], None] | None = None
    undo_transactional = spec.in_transaction(step)
    missing = ""
    if step.rollback == "irreversible":
        missing = "the step is marked irreversible"
    elif step.rollback:
        rollback_steps = list(step.rollback)

        def undo_with_rollback(ctx: StepContext, memo: Any) -> None:
            for undo_step in rollback_steps:
                registry.actions[undo_step.action_key].run(ctx, undo_step)

        undo = undo_with_rollback
        undo_transactional = all(
            registry.actions[u.action_key].in_transaction(u) for u in rollback_steps
        )
    elif spec.undo is not None:
        default_undo = spec.undo

        def undo_default(ctx: StepContext, memo: Any) -> None:
            default_undo(ctx, step, memo)

        undo = undo_default
    else:
        missing = f"no rollback given, and {step.action_key} has no default undo"

    def do(ctx: StepContext) -> Any:
        try:
            return spec.run(ctx, step)
        except SystemExit as exc:  # a plugin may not end the process: that is a bug in it
            raise PluginExited(f"the action {step.action_key} called exit({exc.code!r})") from exc

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
        undo_describe=registry.describe_undo(step),
        irreversible=step.rollback == "irreversible",
    )


def reverting_operation(n: int, source: Operation, memo: Any) -> Operation:
    """Operation number `n` of a rollback run: the undo of `source`, which recorded `memo`."""
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
        not_undone=source.undo_missing if source.irreversible else None,
    )
