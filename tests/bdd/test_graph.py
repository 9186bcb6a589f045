"""Scenarios of features/graph, run for real through the command line."""

from __future__ import annotations

import re
from typing import Any

from pytest_bdd import given, parsers, scenarios, then

scenarios("graph")


@given("no database is configured")
def _(world: dict[str, Any]) -> None:
    world["no_database"] = True  # no --dsn; MIGRATOR_DSN and DATABASE_URL are unset


@then("no embedded database was started")
def _(world: dict[str, Any]) -> None:
    assert not (world["dir"] / ".migrator").exists()


def _highlighted(output: str) -> list[str]:
    return re.findall(r"^\s*Class (\S+) s_active$", output, re.M)


@then("no phase is highlighted")
def _(world: dict[str, Any]) -> None:
    assert _highlighted(world["output"]) == []


@then(parsers.parse('the phase "{phase}" is highlighted'))
def _(phase: str, world: dict[str, Any]) -> None:
    assert _highlighted(world["output"]) == [phase]
