"""Scenarios of features/rehearse, run for real against PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.bdd.trace_steps import *  # noqa: F403  (the steps of trace.feature)
from tests.rehearsing import (
    fake_pg_dump,
    fitting_pg_dump,
    scratch_databases,
    server_version,
)

scenarios("rehearse")


@given("scratch copies are made on the test server")
def _(monkeypatch: pytest.MonkeyPatch, admin_dsn: str, world: dict[str, Any]) -> None:
    monkeypatch.setenv("MIGRATOR_SCRATCH_DSN", admin_dsn)
    fitting = fitting_pg_dump(admin_dsn)  # the test server's own, when of another major
    if fitting:
        monkeypatch.setenv("MIGRATOR_PG_DUMP", fitting[1])
    else:
        monkeypatch.delenv("MIGRATOR_PG_DUMP", raising=False)
    world["scratches"] = scratch_databases(admin_dsn)


@given(parsers.parse('a pg_dump that says it is "{version}" at "{path}"'))
def _(version: str, path: str, world: dict[str, Any]) -> None:
    fake_pg_dump((world["dir"] / path).parent, version)


@then("the output names the pg_dump and the scratch server the copy was made with")
def _(world: dict[str, Any], admin_dsn: str) -> None:
    import os

    from migrator.db import embedded
    from migrator.db.target import Target

    given = os.environ.get("MIGRATOR_PG_DUMP")
    pg_dump = (
        f"pg_dump {server_version(admin_dsn)} ({Path(given)})"
        if given
        else f"pg_dump {embedded.version()} (embedded)"
    )
    scratch = f"PostgreSQL {server_version(admin_dsn)} ({Target(admin_dsn, 'test').shown})"
    line = (
        f"  copied the schema only of PostgreSQL {server_version(world['dsn'])} with "
        f"{pg_dump} onto scratch {scratch}\n"
    )
    assert line in world["output"], world["output"]


@then("no scratch database was made")
def _(world: dict[str, Any], admin_dsn: str) -> None:
    assert scratch_databases(admin_dsn) == world["scratches"]
    assert "rehearsing plan" not in world["output"], world["output"]
