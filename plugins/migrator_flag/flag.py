"""The `flag` action and `flag_is` check."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, StepContext


class FlagSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1)
    value: Any = Field(..., description="any JSON value; true is stored as JSON true")


def describe(step: Any) -> str:
    return f"set flag {step.flag.name} = {json.dumps(step.flag.value)}"


def describe_check(check: Any) -> str:
    return f"flag {check.flag_is.name} is {json.dumps(check.flag_is.value)}"


def run(ctx: StepContext, step: Any) -> Any:
    raise NotImplementedError("setting flags arrives with the engine (issue 3/4)")


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    raise NotImplementedError("restoring flags arrives with the engine (issue 3/4)")


def evaluate(ctx: CheckContext, check: Any) -> Any:
    raise NotImplementedError("reading flags arrives with the engine (issue 3/4)")
