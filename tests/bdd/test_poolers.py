"""Scenarios of features/poolers: migrator behind a real PgBouncer (tests/poolers.py),
in transaction mode and in session mode, in front of the test's PostgreSQL."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, scenarios

from tests.poolers import Poolers, PoolMode

scenarios("poolers")


@given(parsers.parse("the database is reached through PgBouncer in {mode} mode"))
def _(mode: PoolMode, world: dict[str, Any], poolers: Poolers) -> None:
    world["dsn"] = poolers(mode).dsn(world["dsn"])
