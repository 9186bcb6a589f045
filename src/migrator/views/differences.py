"""A check's outcome as a person reads it at a glance: the difference as data, a line per
row (`session_id 16103642-…: confidence 0.724 vs 0.362`), and of a long actual value
the part the expectation names (an HTTP answer's status and the JSON fields expected).

The whole of every value stays in the check's event and in `--output json`; these
lines are cut to the width they are shown in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from migrator.views.values import cut, shown

SIDES = {"query": "the check's query", "equals_query": "equals_query"}
_SHORTER = (40, 24, 16, 9)  # each value cut to these in turn until a line fits


def difference_lines(
    differences: Iterable[Any], width: int | None = None, *, value_width: int | None = None
) -> list[str]:
    """A line per difference (see `CheckOutcome.differences`), each at most `width`
    characters: its values cut shorter first, the line itself last. `value_width`: each
    value cut to it at most (for a line that its reader wraps)."""
    widths = [value_width, *(w for w in _SHORTER if value_width is None or w < value_width)]
    lines = []
    for difference in differences:
        if not isinstance(difference, Mapping):
            continue
        for each in widths:
            line = _line(difference, each)
            if width is None or len(line) <= width:
                break
        lines.append(cut(line, width))
    return lines


def _line(difference: Mapping[str, Any], width: int | None) -> str:
    key = ", ".join(f"{name} {shown(v, width)}" for name, v in _items(difference.get("key")))
    if "only_in" in difference:
        side = SIDES.get(str(difference["only_in"]), str(difference["only_in"]))
        values = ", ".join(f"{n}: {shown(v, width)}" for n, v in _items(difference.get("row")))
        rest = f" ({values})" if values else ""
        return f"{key}: only in {side}{rest}" if key else f"only in {side}{rest}"
    columns = "; ".join(
        f"{name} {shown(actual, width)} vs {shown(expected, width)}"
        for name, actual, expected in _columns(difference.get("columns"))
    )
    return f"{key}: {columns or 'differs'}"


def _items(data: Any) -> list[tuple[str, Any]]:
    """A key's or a row's columns, in order: `[{"name": ..., "value": ...}, ...]` (a
    mapping, as events before the list kept them, in its own order)."""
    if isinstance(data, Mapping):
        return [(str(k), v) for k, v in data.items()]
    if isinstance(data, list | tuple):
        return [(str(i.get("name")), i.get("value")) for i in data if isinstance(i, Mapping)]
    return []


def _columns(data: Any) -> list[tuple[str, Any, Any]]:
    """The columns that differ, in order: `[{"name", "actual", "expected"}, ...]` (a
    mapping of name to [actual, expected], as events before the list kept them)."""
    if isinstance(data, Mapping):
        return [
            (str(k), v[0], v[1])
            for k, v in data.items()
            if isinstance(v, list | tuple) and len(v) == 2
        ]
    if isinstance(data, list | tuple):
        return [
            (str(i.get("name")), i.get("actual"), i.get("expected"))
            for i in data
            if isinstance(i, Mapping)
        ]
    return []


def named_part(actual: Any, expected: Any) -> Any:
    """Of `actual`, what `expected` names: for mappings on both sides only the keys the
    expectation gives (recursively), so that an HTTP check's 600-character answer shows
    as its status and the fields it was expected to have; anything else as it is."""
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        named = {k: named_part(actual[k], expected[k]) for k in expected if k in actual}
        return named or actual  # nothing named is there: all of it is the news
    return actual
