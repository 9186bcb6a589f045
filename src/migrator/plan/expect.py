"""The generic expectation of a check: a value, `"OP VALUE"`, or `{equals_query: SQL}`."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from migrator.plugin.context import CheckOutcome

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_ORDERING = {">", ">=", "<", "<="}
_OP_EXPR = re.compile(r"^\s*([<>=!]+)\s*(.*?)\s*$", re.DOTALL)


class ExpectationError(ValueError):
    """An `expect` that cannot be understood."""


@dataclass(frozen=True)
class Comparison:
    """`actual OP value`; a bare value is `== value`."""

    op: str
    value: Any

    def test(self, actual: Any) -> bool:
        left, right = _comparable(actual), _comparable(self.value)
        if self.op in _ORDERING and (not _is_number(left) or not _is_number(right)):
            return False
        try:
            return OPERATORS[self.op](left, right)
        except TypeError:
            return False

    def __str__(self) -> str:
        return f"{self.op} {self.value!r}" if self.op != "==" else repr(self.value)


@dataclass(frozen=True)
class EqualsQuery:
    """The check's query and this one return the same rows."""

    sql: str

    def __str__(self) -> str:
        return f"same rows as: {self.sql.strip()}"


Expectation = Comparison | EqualsQuery


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            return float(value)  # NaN and ±Infinity (PostgreSQL 14+ numerics) included
        return int(value)
    return value


def parse_expectation(raw: Any) -> Expectation:
    """Turn the YAML value of `expect` into an expectation, or raise ExpectationError."""
    if isinstance(raw, dict):
        if set(raw) != {"equals_query"}:
            keys = ", ".join(sorted(map(str, raw))) or "nothing"
            raise ExpectationError(
                f"a mapping expectation takes exactly the key 'equals_query', not {keys}"
            )
        sql = raw["equals_query"]
        if not isinstance(sql, str) or not sql.strip():
            raise ExpectationError("equals_query needs the SQL of a query")
        return EqualsQuery(sql)
    if isinstance(raw, list):
        raise ExpectationError(
            "expect takes a value, 'OP VALUE' or {equals_query: SQL}, not a list"
        )
    if isinstance(raw, str):
        match = _OP_EXPR.match(raw)
        if match:
            op, text = match.groups()
            if op not in OPERATORS:
                raise ExpectationError(
                    f"unknown operator '{op}' in '{raw}': use one of {' '.join(OPERATORS)}"
                )
            if not text:
                raise ExpectationError(f"'{raw}' has an operator but no value to compare with")
            value = _scalar(text)
            if op in _ORDERING and not _is_number(value):
                raise ExpectationError(f"'{raw}': '{op}' compares numbers, and '{text}' is not one")
            return Comparison(op, value)
    return Comparison("==", raw)


def _scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def judge(expectation: Any, actual: Any) -> CheckOutcome:
    """The outcome of comparing `actual` with a parsed `Comparison` (for plugins' checks)."""
    if not isinstance(expectation, Comparison):
        raise TypeError(f"judge() takes a Comparison, not {type(expectation).__name__}")
    return CheckOutcome(expectation.test(actual), actual, str(expectation))


def compare_rows(left: list[tuple[Any, ...]], right: list[tuple[Any, ...]]) -> str | None:
    """None when two result sets hold the same rows (as multisets); else what differs first."""
    from collections import Counter

    only_left = Counter(left) - Counter(right)
    only_right = Counter(right) - Counter(left)
    if not only_left and not only_right:
        return None
    parts = [f"{len(left)} rows against {len(right)}"]
    if only_left:
        parts.append(f"first row only in the check: {next(iter(only_left))}")
    if only_right:
        parts.append(f"first row only in equals_query: {next(iter(only_right))}")
    return "; ".join(parts)
