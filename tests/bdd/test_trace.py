"""Scenarios of features/rehearse/trace.feature: a rehearsal's trace of each step, for real."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.rehearsing import fitting_pg_dump

scenarios("rehearse/trace.feature")


@given("scratch copies are made on the test server")
def _(monkeypatch: pytest.MonkeyPatch, admin_dsn: str) -> None:
    monkeypatch.setenv("MIGRATOR_SCRATCH_DSN", admin_dsn)
    fitting = fitting_pg_dump(admin_dsn)  # the test server's own, when of another major
    if fitting:
        monkeypatch.setenv("MIGRATOR_PG_DUMP", fitting[1])
    else:
        monkeypatch.delenv("MIGRATOR_PG_DUMP", raising=False)


def _step(world: dict[str, Any], leg: str, step: str) -> dict[str, Any]:
    document = json.loads(world["stdout"])
    found = [
        entry
        for trip in document["round_trips"]
        for entry in trip["trace"]
        if entry["leg"] == leg and entry["step"] == step
    ]
    assert len(found) == 1, document["round_trips"]
    return found[0]


@then(parsers.parse('the trace of "{leg}" step "{step}" has the lock "{mode}" on "{relation}"'))
def _(world: dict[str, Any], leg: str, step: str, mode: str, relation: str) -> None:
    entry = _step(world, leg, step)
    assert {"relation": relation, "mode": mode} in entry["locks"], entry


@then(parsers.parse('the trace of "{leg}" step "{step}" rewrote "{relation}"'))
def _(world: dict[str, Any], leg: str, step: str, relation: str) -> None:
    entry = _step(world, leg, step)
    assert relation in entry["rewritten"], entry


@then(parsers.parse('the trace of "{leg}" step "{step}" has its locks not traced'))
def _(world: dict[str, Any], leg: str, step: str) -> None:
    entry = _step(world, leg, step)
    assert entry["locks_traced"] is False and entry["locks"] == [], entry
