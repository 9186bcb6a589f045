"""Scenarios of features/options, run for real through the command line."""

from __future__ import annotations

import getpass
import json
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios, then

scenarios("options")


@given(parsers.parse("{variable} names the scenario's database"))
def _(variable: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    assert variable in ("MIGRATOR_DSN", "DATABASE_URL")
    monkeypatch.setenv(variable, world["dsn"])
    world["no_database"] = True  # commands get no --dsn


@then(parsers.parse('the runs of plan "{plan}" were made by the user running migrator'))
def _(plan: str, world: dict[str, Any]) -> None:
    with psycopg.connect(world["dsn"], autocommit=True) as conn:
        operators = {
            row[0]
            for row in conn.execute("select operator from migrator.runs where plan = %s", (plan,))
        }
    assert operators == {getpass.getuser()}


def _log_lines(world: dict[str, Any]) -> list[dict[str, Any]]:
    lines = [line for line in world["stderr"].splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    return [json.loads(line) for line in lines]  # every line is JSON, or this fails


@then("stderr has one JSON line for each event of the audit trail, in order")
def _(world: dict[str, Any]) -> None:
    with psycopg.connect(world["dsn"], autocommit=True) as conn:
        events = conn.execute("select kind, status, step from migrator.events order by id")
        recorded = [tuple(row) for row in events]
    logged = [(line["kind"], line["status"], line["step"]) for line in _log_lines(world)]
    assert logged == recorded


@then(parsers.parse('each JSON line on stderr names run {run_id:d} of plan "{plan}"'))
def _(run_id: int, plan: str, world: dict[str, Any]) -> None:
    for line in _log_lines(world):
        assert (line["run_id"], line["plan"]) == (run_id, plan), line
        assert line["at"], line


@then(parsers.parse('a JSON line on stderr says that step "{step}" is done'))
def _(step: str, world: dict[str, Any]) -> None:
    done = [
        line
        for line in _log_lines(world)
        if (line["kind"], line["status"], line["step"]) == ("step", "done", step)
    ]
    assert len(done) == 1, world["stderr"]
    assert done[0]["detail"]["action"] == "sql"
