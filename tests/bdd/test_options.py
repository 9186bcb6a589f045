"""Scenarios of features/options, run for real through the command line."""

from __future__ import annotations

import getpass
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
