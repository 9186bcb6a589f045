"""Scenarios of features/backfill, run for real against PostgreSQL."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, scenarios

scenarios("backfill")


@given(parsers.re(r'the plan "(?P<name>[^"]+)" now runs (?P<streams>\d+) streams?'))
def _(name: str, streams: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    text = path.read_text()
    assert "parallel: " in text
    lines = [
        line.split("parallel:")[0] + f"parallel: {int(streams)}" if "parallel:" in line else line
        for line in text.splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
