"""Scenarios of features/fleet/apply.feature and failure.feature: `migrator fleet apply`
on real databases, one per target (tests/fleets.py)."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.fleets import (
    FleetDatabases,
    env_name,
    fleet_databases,  # noqa: F401
)

scenarios("fleet/apply.feature", "fleet/failure.feature")


def _fleet(request: pytest.FixtureRequest) -> FleetDatabases:
    made: FleetDatabases = request.getfixturevalue("fleet_databases")
    return made


def _ledger(world: dict[str, Any]) -> dict[str, Any]:
    path = world["dir"] / "fleet.yaml.ledger.json"
    document: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return document


def _target(world: dict[str, Any], name: str) -> dict[str, Any]:
    record: dict[str, Any] = _ledger(world)["rollouts"][-1]["targets"][name]
    return record


def _execute(request: pytest.FixtureRequest, target: str, statement: str) -> None:
    with psycopg.connect(_fleet(request).dsns[target], autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


@given(parsers.parse('the databases "{names}" of a fleet'))
def _(names: str, world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    """A fresh database per target; its DSN in FLEET_DSN_<NAME> (never in a file)."""
    _fleet(request).add(*(n.strip() for n in names.split(",")))
    world["no_database"] = True  # the fleet file names the databases


@given(parsers.parse('the fleet file "{name}":'))
def _(name: str, docstring: str, world: dict[str, Any]) -> None:
    (world["dir"] / name).write_text(docstring + "\n", encoding="utf-8")


@given(parsers.parse('the SQL "{sql}" ran on target "{target}"'))
@when(parsers.parse('the SQL "{sql}" runs on target "{target}"'))
def _(sql: str, target: str, request: pytest.FixtureRequest) -> None:
    _execute(request, target, sql)


@given(parsers.parse('target "{target}" points at a database that does not exist'))
def _(target: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = _fleet(request).dsns[target]
    nowhere = psycopg.conninfo.make_conninfo(dsn, dbname="fleet_no_such_database")
    monkeypatch.setenv(env_name(target), nowhere)


@then(parsers.parse('target "{target}" is in phase "{phase}" of plan "{plan}"'))
def _(target: str, phase: str, plan: str, request: pytest.FixtureRequest) -> None:
    assert _fleet(request).phase(target, plan) == phase


@then(parsers.parse('target "{target}" has no schema {schema}'))
def _(target: str, schema: str, request: pytest.FixtureRequest) -> None:
    rows = _fleet(request).sql(target, f"select to_regnamespace('{schema}')")
    assert rows == [(None,)]


@then(parsers.parse('target "{target}" has {count:d} run of plan "{plan}"'))
def _(target: str, count: int, plan: str, request: pytest.FixtureRequest) -> None:
    rows = _fleet(request).sql(target, f"select count(*) from migrator.runs where plan = '{plan}'")
    assert rows == [(count,)]


@then(
    parsers.parse(
        'the run on target "{later}" started after the run on target "{earlier}" finished'
    )
)
def _(later: str, earlier: str, request: pytest.FixtureRequest) -> None:
    dbs = _fleet(request)
    finished = dbs.sql(earlier, "select max(finished_at) from migrator.runs")[0][0]
    started = dbs.sql(later, "select min(started_at) from migrator.runs")[0][0]
    assert finished is not None and started is not None
    assert started >= finished  # type: ignore[operator]


@then(parsers.parse('the ledger says target "{target}" is "{state}"'))
def _(target: str, state: str, world: dict[str, Any]) -> None:
    assert _target(world, target)["state"] == state, _target(world, target)


@then(parsers.parse('the ledger says target "{target}" is "{state}" after {attempts:d} attempts'))
def _(target: str, state: str, attempts: int, world: dict[str, Any]) -> None:
    record = _target(world, target)
    assert (record["state"], record["attempts"]) == (state, attempts), record


@then(parsers.parse("the ledger has {count:d} rollout"))
def _(count: int, world: dict[str, Any]) -> None:
    assert len(_ledger(world)["rollouts"]) == count


@given(parsers.parse('"migrator apply {args}" ran on target "{target}"'))
def _(args: str, target: str, world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    """Another operator's own `migrator apply` on one target (its DSN in its environment)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MIGRATOR_DSN": _fleet(request).dsns[target]}
    command = [sys.executable, "-m", "migrator", "apply", *args.split()]
    done = subprocess.run(
        command, cwd=world["dir"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@then(parsers.parse('the ledger says target "{target}" is "{state}" with no run of its own'))
def _(target: str, state: str, world: dict[str, Any]) -> None:
    record = _target(world, target)
    assert (record["state"], record["runs"], record["pids"]) == (state, [], []), record
