"""Scenarios of features/resume, run for real against PostgreSQL."""

from typing import Any

from pytest_bdd import given, parsers, scenarios

scenarios("resume")


@given(parsers.parse('the plan file "{name}" was edited since'))
def _(name: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    path.write_text(path.read_text() + "# edited after the run stopped\n")
