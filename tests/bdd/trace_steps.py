"""The steps of features/rehearse/trace.feature (a rehearsal's trace of each step), which
tests/bdd/test_rehearse.py runs with the rest of features/rehearse."""

from __future__ import annotations

import json
from typing import Any

from pytest_bdd import parsers, then


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
