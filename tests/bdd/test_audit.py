"""Scenarios of features/audit, run for real against PostgreSQL."""

from typing import Any

from pytest_bdd import parsers, scenarios, then
from rich.cells import cell_len

scenarios("audit")


@then(parsers.parse("no line it printed on stdout is wider than {width:d} columns"))
def _(width: int, world: dict[str, Any]) -> None:
    wide = [line for line in world["stdout"].splitlines() if cell_len(line) > width]
    assert not wide, world["stdout"]
