"""The `flag` action and `flag_is` check, on the default store: table `migrator.flags`."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome, StepContext


class FlagSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1)
    value: Any = Field(..., description="any JSON value; true is stored as JSON true")


_MISSING = object()


def describe(step: Any) -> str:
    return f"set flag {step.flag.name} = {json.dumps(step.flag.value)}"


def describe_check(check: Any) -> str:
    return f"flag {check.flag_is.name} is {json.dumps(check.flag_is.value)}"


def _value(ctx: StepContext, value: Any) -> Any:
    return ctx.interpolate(value) if isinstance(value, str) else value


def _read(conn: Any, name: str, *, lock: bool = False) -> Any:
    exists = conn.exec_driver_sql("select to_regclass('migrator.flags') is not null").scalar()
    if not exists:
        return _MISSING
    sql = "select value from migrator.flags where name = %(n)s" + (" for update" if lock else "")
    row = conn.exec_driver_sql(sql, {"n": name}).first()
    return _MISSING if row is None else row[0]


def _write(conn: Any, name: str, value: Any, operator: str) -> None:
    conn.exec_driver_sql(
        "insert into migrator.flags (name, value, updated_by) "
        "values (%(n)s, cast(%(v)s as jsonb), %(by)s) on conflict (name) do update "
        "set value = excluded.value, updated_at = now(), updated_by = excluded.updated_by",
        {"n": name, "v": json.dumps(value), "by": operator},
    )


def run(ctx: StepContext, step: Any) -> Any:
    setting = step.flag
    before = _read(ctx.connection, setting.name, lock=True)
    _write(ctx.connection, setting.name, _value(ctx, setting.value), ctx.operator)
    if before is _MISSING:
        return {"existed": False}
    return {"existed": True, "previous": before}


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Put back exactly what was there: the earlier value, or no flag at all."""
    name = step.flag.name
    if memo and memo.get("existed"):
        _write(ctx.connection, name, memo.get("previous"), ctx.operator)
    else:
        ctx.connection.exec_driver_sql("delete from migrator.flags where name = %(n)s", {"n": name})


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    setting = check.flag_is
    expected = _value(ctx, setting.value)
    actual = _read(ctx.connection, setting.name)
    if actual is _MISSING:
        return CheckOutcome(False, None, expected, f"flag {setting.name} is not set")
    return CheckOutcome(actual == expected, actual, expected)
