"""Field types shared by plan models: durations, risk, the generic expectation."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from migrator.plan.expect import EqualsQuery, ExpectationError, one_query, parse_expectation

Risk = Literal["low", "medium", "high"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_LONGEST = 30 * 86400.0


def parse_duration(raw: Any) -> float:
    """`5s`, `10m`, `1h`, `250ms` or a number of seconds -> seconds."""
    if isinstance(raw, bool):
        raise ValueError("a duration is a number of seconds or text like 5s, 10m, 1h")
    try:
        if isinstance(raw, int | float):
            seconds = float(raw)
        elif isinstance(raw, str) and (match := _DURATION.match(raw)):
            seconds = float(match.group(1)) * _UNIT[match.group(2)]
        else:
            raise ValueError(f"'{raw}' is not a duration: write 5s, 10m, 1h, 250ms or a number")
    except OverflowError:
        raise ValueError("a duration that long is not a duration") from None
    if not math.isfinite(seconds) or seconds > _LONGEST:
        raise ValueError("a duration must be a finite number of seconds, at most 30 days")
    if seconds <= 0:
        raise ValueError("a duration must be greater than 0")
    return seconds


SERVER_LONGEST_MS = 2_147_483_647  # PostgreSQL's largest timeout (INT_MAX ms, about 24.8 days)


def server_timeout(seconds: float) -> float:
    """`seconds` if PostgreSQL accepts it as a timeout (`lock_timeout`, `statement_timeout`):
    at most INT_MAX milliseconds, about 24.8 days."""
    if int(seconds * 1000) > SERVER_LONGEST_MS:
        raise ValueError(
            f"a timeout PostgreSQL enforces is at most {SERVER_LONGEST_MS}ms (about 24.8 "
            f"days), not {seconds:g}s"
        )
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)?$"},
            ],
            "description": "seconds, or text like 250ms, 5s, 10m, 1h",
        }
    ),
]


def _expectation(raw: Any) -> Any:
    try:
        return parse_expectation(raw)
    except ExpectationError as exc:
        raise ValueError(str(exc)) from None


def equals_query_rule(key: str) -> Any:
    """The validator of a check whose `key` holds SQL: with `expect: {equals_query: SQL}`
    that SQL is one query too (the two become subqueries of one statement)."""

    def one_each(value: Any, info: ValidationInfo) -> Any:
        own = info.data.get(key)
        if isinstance(value, EqualsQuery) and isinstance(own, str):
            try:
                one_query(own, f"`{key}` (compared with equals_query)")
            except ExpectationError as exc:
                raise ValueError(str(exc)) from None
        return value

    return field_validator("expect")(one_each)


GenericExpect = Annotated[
    Any,
    BeforeValidator(_expectation),
    WithJsonSchema(
        {
            "description": "a value (equality), 'OP VALUE' with OP one of == != > >= < <=, "
            "or {equals_query: SQL}",
            "anyOf": [
                {"type": ["string", "number", "boolean", "null"]},
                {
                    "type": "object",
                    "properties": {"equals_query": {"type": "string"}},
                    "required": ["equals_query"],
                    "additionalProperties": False,
                },
            ],
        }
    ),
]


class Strict(BaseModel):
    """Base of every plan model: unknown keys are errors; frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Wait(Strict):
    """Poll a check until it passes or `timeout` runs out."""

    timeout: Duration
    interval: Duration = 5.0

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, value: Any) -> Any:
        """A check's `wait: 30s` is the step's `wait` misplaced: say where each belongs."""
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            raise ValueError(
                "a check's wait is {timeout, interval}: it looks again until the check "
                "passes; to let time pass between two steps, make it a step: `- wait: "
                f"{value}`"
            )
        return value


class Soak(Strict):
    """Keep checking for `duration`; fail once failures exceed `failure_limit`."""

    duration: Duration
    interval: Duration = 10.0
    failure_limit: int = Field(0, ge=0)


ServerTimeout = Annotated[Duration, AfterValidator(server_timeout)]
"""A duration PostgreSQL enforces (a step's `timeout`, `lock_timeout`): at most INT_MAX ms."""
