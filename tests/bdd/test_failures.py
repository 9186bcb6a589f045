"""Scenarios of features/failures, run for real against PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from pytest_bdd import parsers, scenarios, then

scenarios("failures")


def _last_line(world: dict[str, Any]) -> str:
    lines = [line for line in world["stdout"].splitlines() if line.strip()]
    assert lines, world["output"]
    return lines[-1]


@then(parsers.parse('the last line of the output is "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    assert _last_line(world) == text, world["output"]


@then(parsers.parse('the last line of the output starts with "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    assert _last_line(world).startswith(text), world["output"]


@then(parsers.parse('the last line of the output ends with "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    assert _last_line(world).endswith(text), world["output"]


@then(parsers.parse('under the line containing "{head}", a line reads "{text}"'))
def _(head: str, text: str, world: dict[str, Any]) -> None:
    """`text` is a line of its own after the line holding `head`, indented deeper, before
    the next line at `head`'s indent (the lines that belong to it)."""
    lines = world["stdout"].splitlines()
    start = next(i for i, line in enumerate(lines) if head in line)
    indent = len(lines[start]) - len(lines[start].lstrip())
    under = []
    for line in lines[start + 1 :]:
        if len(line) - len(line.lstrip()) <= indent:
            break
        under.append(line.strip())
    assert text in under, world["output"]


def _check(world: dict[str, Any], name: str) -> dict[str, Any]:
    document = json.loads(world["stdout"])
    found = [e for e in document["events"] if e["kind"] == "check" and e["step"] == name]
    assert found, document
    detail: dict[str, Any] = found[-1]["detail"]
    return detail


@then(
    parsers.parse(
        'the check "{name}" of the JSON document has the difference key "{column}" = "{value}"'
    )
)
def _(name: str, column: str, value: str, world: dict[str, Any]) -> None:
    [difference] = _check(world, name)["differences"]
    assert difference["key"] == {column: value}


@then(
    parsers.parse(
        'the check "{name}" of the JSON document has "{column}" differ as the numbers '
        "{left:g} and {right:g}"
    )
)
def _(name: str, column: str, left: float, right: float, world: dict[str, Any]) -> None:
    [difference] = _check(world, name)["differences"]
    pair = difference["columns"][column]
    assert pair == [left, right]
    assert all(isinstance(v, float) for v in pair), pair  # numbers, not their text
