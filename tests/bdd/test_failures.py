"""Scenarios of features/failures, run for real against PostgreSQL."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from typing import Any

from pytest_bdd import parsers, scenarios, then, when

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
    assert difference["key"] == [{"name": column, "value": value}]


@then(
    parsers.parse(
        'the check "{name}" of the JSON document has "{column}" differ as the numbers '
        "{left:g} and {right:g}"
    )
)
def _(name: str, column: str, left: float, right: float, world: dict[str, Any]) -> None:
    [difference] = _check(world, name)["differences"]
    [found] = [c for c in difference["columns"] if c["name"] == column]
    pair = [found["actual"], found["expected"]]
    assert pair == [left, right]
    assert all(isinstance(v, float) for v in pair), pair  # numbers, not their text


@when(parsers.parse('I run "{command}" with its output closed'))
def _(command: str, world: dict[str, Any]) -> None:
    """The command as a real process whose stdout is a pipe nobody reads any more (its
    reading end closed before it starts, as `| head -1` does once it has its line); the
    database by $MIGRATOR_DSN (no password on the command line)."""
    read, write = os.pipe()
    os.close(read)
    words = shlex.split(command)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "migrator", *words[1:]],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=world["dir"],
            env={**os.environ, "MIGRATOR_DSN": world["dsn"]},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    world["code"], world["output"] = done.returncode, done.stderr
    world["stdout"], world["stderr"] = "", done.stderr


@then("nothing was written on stderr")
def _(world: dict[str, Any]) -> None:
    assert world["stderr"] == "", world["stderr"]
