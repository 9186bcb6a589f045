"""Scenarios of features/secrets, run for real through the command line."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios, then

scenarios("secrets")


def _audit_trail(dsn: str, plan: str) -> str:
    """Every event and error recorded about `plan`, as text."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select coalesce(string_agg(e.step || ' ' || e.detail::text, ' '), '') "
            "|| ' ' || coalesce(string_agg(distinct r.error, ' '), '') "
            "from migrator.runs r join migrator.events e on e.run_id = r.id where r.plan = %s",
            (plan,),
        ).fetchone()
    assert row is not None
    return str(row[0])


@then(parsers.parse('the audit trail of plan "{plan}" contains "{text}"'))
def _(plan: str, text: str, world: dict[str, Any]) -> None:
    assert text in _audit_trail(world["dsn"], plan)


@then(parsers.parse('the audit trail of plan "{plan}" does not contain "{text}"'))
def _(plan: str, text: str, world: dict[str, Any]) -> None:
    trail = _audit_trail(world["dsn"], plan)
    assert trail.strip(), "nothing was recorded"
    assert text not in trail


@given(parsers.parse('the database is reached with the password "{password}"'))
def _(password: str, world: dict[str, Any]) -> None:
    # The test server trusts local connections: any password gets in, and must never show.
    scheme, rest = world["dsn"].split("://", 1)
    user = rest.split("@", 1)[0].split(":", 1)[0]
    world["dsn"] = f"{scheme}://{user}:{password}@{rest.split('@', 1)[1]}"


@given(parsers.parse('the environment variable "{name}" is unset'))
def _(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(name, raising=False)
