"""The generic expectation of a check: a value, `"OP VALUE"`, or `{equals_query: SQL}`.

Comparisons are honest (docs/concepts.md, "How checks compare"): NULL and no row pass
only `expect: null`; a boolean is a boolean, never 1; numbers compare as numbers across
int, Decimal and float; text as text; a value of one kind never equals one of another,
and the detail says which kinds met instead of a silent `false`.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from migrator.db.sqltext import statements
from migrator.plugin.context import CheckOutcome
from migrator.views.values import plain

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
# What may stand as a subquery: `(Q) AS l` (equals_query compares in the database).
_QUERY_START = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(select|values|table|with|\()", re.I | re.S
)
NO_ROW_DETAIL = "the query returned no row"
NULL_DETAIL = "the query returned NULL"


class ExpectationError(ValueError):
    """An `expect` that cannot be understood."""


@dataclass(frozen=True)
class Comparison:
    """`actual OP value`; a bare value is `== value`."""

    op: str
    value: Any

    def test(self, actual: Any) -> bool:
        return self.verdict(actual)[0]

    def verdict(self, actual: Any, *, no_row: bool = False) -> tuple[bool, str]:
        """(passed, detail): the detail says why a comparison could not pass."""
        if no_row or actual is None:
            passed = self.op == "==" and self.value is None
            return passed, NO_ROW_DETAIL if no_row else ("" if passed else NULL_DETAIL)
        if self.value is None:
            return self.op == "!=", "" if self.op == "!=" else "expected NULL"
        got, want = kind_of(actual), kind_of(self.value)
        if got != want:
            return False, (
                f"the query returned {_a(got)} ({_shown(actual)}) and expect is {_a(want)}: "
                f"{got} and {want} never compare; cast in SQL, or write expect as {_a(got)}"
            )
        if self.op in _ORDERING and got != "number":
            return False, f"'{self.op}' compares numbers, not {got}"
        left, right = _comparable(actual), _comparable(self.value)
        if got == "number" and (left.is_nan() or right.is_nan()):
            return self.op == "!=", "" if self.op == "!=" else "NaN equals and orders with nothing"
        try:
            return bool(OPERATORS[self.op](left, right)), ""
        except TypeError:  # pragma: no cover - same kinds always compare
            return False, f"{_shown(actual)} and {_shown(self.value)} do not compare"

    def __str__(self) -> str:
        """As SQL writes the value (`true`, `NULL`, `'ready'`, `> 90`), not as Python does."""
        value = literal(self.value)
        return f"{self.op} {value}" if self.op != "==" else value


def literal(value: Any) -> str:
    """A value expected of a query, as SQL writes it: NULL, true, 42, 'text'."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dict | list | tuple):  # json or an array: its JSON, never a repr
        return json.dumps(plain(value), ensure_ascii=False, separators=(", ", ": "))
    return str(plain(value)) if not isinstance(value, int | float | Decimal) else str(value)


@dataclass(frozen=True)
class EqualsQuery:
    """The check's query and this one return the same rows."""

    sql: str

    def __str__(self) -> str:
        return f"same rows as: {self.sql.strip()}"


Expectation = Comparison | EqualsQuery


def kind_of(value: Any) -> str:
    """What a value is for comparing: NULL, boolean, number, text, or its type's name."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "text"
    return _KINDS.get(type(value).__name__, type(value).__name__)


_KINDS = {"dict": "JSON object", "list": "array", "tuple": "row"}


def _a(kind: str) -> str:
    return kind if kind == "NULL" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _shown(value: Any) -> str:
    # Never cut here: the run masks what it records, and a secret cut in two before it is
    # masked would leave its first half (text is cut, masked first, where it is recorded).
    return literal(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _comparable(value: Any) -> Any:
    """A number as an exact Decimal (a float as the decimal it was written as: YAML's
    0.1 is 0.1), so that numerics beyond a float's 53 bits compare exactly."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def parse_expectation(raw: Any) -> Expectation:
    """Turn the YAML value of `expect` into an expectation, or raise ExpectationError."""
    if isinstance(raw, dict):
        if set(raw) != {"equals_query"}:
            keys = ", ".join(sorted(map(str, raw))) or "nothing"
            raise ExpectationError(
                f"a mapping expectation takes exactly the key 'equals_query', not {keys}"
            )
        return EqualsQuery(one_query(raw["equals_query"], "equals_query"))
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


def one_query(sql: Any, what: str) -> str:
    """`sql` if it is one query that can stand as a subquery; else ExpectationError."""
    if not isinstance(sql, str) or not sql.strip():
        raise ExpectationError(f"{what} needs the SQL of a query")
    found = statements(sql)
    if len(found) != 1:
        raise ExpectationError(
            f"{what} takes one query (SELECT, VALUES, TABLE or WITH), not {len(found)} statements"
        )
    if not _QUERY_START.match(found[0].text):
        raise ExpectationError(
            f"{what} takes a query (SELECT, VALUES, TABLE or WITH), "
            f"not `{' '.join(found[0].text.split())[:40]}`"
        )
    return sql


def _scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def judge(expectation: Any, actual: Any, *, no_row: bool = False) -> CheckOutcome:
    """The outcome of comparing `actual` with a parsed `Comparison` (for plugins' checks).

    `no_row`: the query returned no row at all (`actual` is then ignored); like NULL it
    passes only `expect: null`, and the detail tells the two apart.
    """
    if not isinstance(expectation, Comparison):
        raise TypeError(f"judge() takes a Comparison, not {type(expectation).__name__}")
    passed, detail = expectation.verdict(actual, no_row=no_row)
    return CheckOutcome(passed, None if no_row else actual, str(expectation), detail)


def compare_rows(left: list[tuple[Any, ...]], right: list[tuple[Any, ...]]) -> str | None:
    """None when two small result sets hold the same rows (as multisets); else what
    differs first. Both are held in memory: `equals_query` compares in the database."""
    from collections import Counter

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else v
            for v in row
        )

    lefts, rights = Counter(map(key, left)), Counter(map(key, right))
    only_left, only_right = lefts - rights, rights - lefts
    if not only_left and not only_right:
        return None
    parts = [f"{len(left)} rows against {len(right)}"]
    if only_left:
        parts.append(f"first row only in the check: {next(iter(only_left))}")
    if only_right:
        parts.append(f"first row only in equals_query: {next(iter(only_right))}")
    return "; ".join(parts)
