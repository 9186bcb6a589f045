"""The `flag` action and `flag_is` check, on whichever store the plan names."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome, StepContext
from migrator.plugin import MISSING, FlagStore


class FlagSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1)
    value: Any = Field(..., description="any JSON value; true is stored as JSON true")
    store: str = Field(
        "table",
        description="table (migrator.flags, the default) or file:PATH (.json/.yaml), "
        "relative to the plan file",
    )


def describe(step: Any) -> str:
    f = step.flag
    where = "" if f.store == "table" else f" in {f.store}"
    return f"set flag {f.name} = {json.dumps(f.value)}{where}"


def describe_check(check: Any) -> str:
    f = check.flag_is
    where = "" if f.store == "table" else f" in {f.store}"
    return f"flag {f.name} is {json.dumps(f.value)}{where}"


def in_transaction(step: Any) -> bool:
    """Only the table store shares the step's transaction; a file is written at once."""
    return bool(step.flag.store == "table")


def _store(ctx: StepContext, location: str) -> FlagStore:
    assert ctx.hooks is not None, "steps run with the plugin manager's hooks"
    store = ctx.hooks.migrator_flag_store(location=location, plan_file=ctx.plan_file)
    if store is None:
        raise ValueError(f"no plugin keeps flags in {location!r}: use table or file:PATH")
    return store  # type: ignore[no-any-return]


def _value(ctx: StepContext, value: Any) -> Any:
    return ctx.interpolate(value) if isinstance(value, str) else value


def run(ctx: StepContext, step: Any) -> Any:
    setting = step.flag
    store = _store(ctx, setting.store)
    before = store.get(ctx, setting.name)
    store.set(ctx, setting.name, _value(ctx, setting.value))
    if before is MISSING:
        return {"existed": False}
    return {"existed": True, "previous": before}


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Put back exactly what was there: the earlier value, or no flag at all."""
    store = _store(ctx, step.flag.store)
    if memo and memo.get("existed"):
        store.set(ctx, step.flag.name, memo.get("previous"))
    else:
        store.delete(ctx, step.flag.name)


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    setting = check.flag_is
    expected = _value(ctx, setting.value)
    actual = _store(ctx, setting.store).get(ctx, setting.name)
    if actual is MISSING:
        return CheckOutcome(False, None, expected, f"flag {setting.name} is not set")
    return CheckOutcome(actual == expected, actual, expected)
