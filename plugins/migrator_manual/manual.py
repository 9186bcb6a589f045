"""The `manual` action: an instruction a person carries out, confirmed before going on."""

from __future__ import annotations

from typing import Any

from migrator import StepContext


class NotConfirmed(Exception):
    """Nobody confirmed the manual step: the run stops before it, and is undone."""


def describe(step: Any) -> str:
    return f"a person does: {step.manual.strip()}"


def in_transaction(step: Any) -> bool:
    return False  # never hold a database transaction open while a person works


def run(ctx: StepContext, step: Any) -> Any:
    instruction = ctx.interpolate(step.manual.strip())
    ctx.say(f"  manual step: {instruction}")
    if ctx.assume_yes:
        return {"confirmed_by": ctx.operator, "via": "--yes"}
    if not ctx.interactive:
        raise NotConfirmed("a manual step needs a person: run at a terminal, or confirm with --yes")
    if not ctx.confirm("Done? (answer no to stop and undo this run)"):
        raise NotConfirmed(f"{ctx.operator} did not confirm the manual step")
    return {"confirmed_by": ctx.operator, "via": "terminal"}


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Nothing to take back by default: give the step a `rollback` to say what a person undoes."""
