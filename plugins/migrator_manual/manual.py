"""The `manual` action."""

from __future__ import annotations

from typing import Any

from migrator import StepContext


def describe(step: Any) -> str:
    return f"a person does: {step.manual.strip()}"


def run(ctx: StepContext, step: Any) -> Any:
    raise NotImplementedError("manual steps arrive with the engine (issue 3/4)")


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Nothing to take back by default: give the step a `rollback` to say what a person undoes."""
