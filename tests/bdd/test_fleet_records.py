"""Scenarios of features/fleet/status.feature and rollback.feature: `fleet status` and
`fleet rollback` on real databases, one per target.

The rollout they read is made as `fleet apply` makes one: each target moved by a real
`migrator apply` process, the ledger written by the foundation's `Book` (tests/
fleet_records.py); the whole story from `fleet apply` on is the apply feature's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.fleet_records import (
    FAST_RETRY,
    TWO_WAVES,
    add_targets,
    apply_by_hand,
    execute,
    killed_apply,
    record_rollout,
    runs_of,
    silent_server,
    write_shop,
)
from tests.fleets import FleetDatabases, env_name, fleet_databases  # noqa: F401
from tests.helpers import run_cli

scenarios("fleet/status.feature", "fleet/rollback.feature")


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _snapshot(world: dict[str, Any], fleet: FleetDatabases) -> None:
    world["runs"] = {name: runs_of(fleet, name) for name in world["targets"]}


@pytest.fixture
def mute_port() -> Iterator[list[int]]:
    """The port of a server that never answers, once a scenario asks for one."""
    ports: list[int] = []
    with silent_server() as port:
        ports.append(port)
        yield ports


@given(parsers.parse('the fleet of targets "{canary}" in group canary, "{first}" and "{second}"'))
def _(
    canary: str,
    first: str,
    second: str,
    world: dict[str, Any],
    fleet_databases: FleetDatabases,  # noqa: F811
) -> None:
    world["no_database"] = True  # fleet commands name no --dsn: the fleet file has them
    targets = {canary: "canary", first: None, second: None}
    world["fleet"] = fleet_databases.write(
        targets, waves=TWO_WAVES, extra=FAST_RETRY + "timeout: 1s\n"
    )
    world["targets"] = list(targets)


@given(parsers.parse('the fleet\'s plan "{name}"'))
def _(name: str, world: dict[str, Any]) -> None:
    assert name == "shop.yaml"
    world["plan"] = write_shop(Path(world["dir"]))


@given(parsers.parse('the fleet\'s last rollout moved "{names}"'))
def _(names: str, world: dict[str, Any], fleet_databases: FleetDatabases) -> None:  # noqa: F811
    waves = {n: "canary" if n == world["targets"][0] else "rest" for n in world["targets"]}
    moved = {n: waves[n] for n in _names(names)}
    others = {n: (w, "in_phase") for n, w in waves.items() if n not in moved}
    world["rollout"] = record_rollout(fleet_databases, world["fleet"], world["plan"], moved, others)
    _snapshot(world, fleet_databases)


@given(parsers.parse('its fleet apply was killed while the command of target "{target}" ran'))
def _(target: str, world: dict[str, Any]) -> None:
    killed_apply(world["fleet"], world["rollout"], target)


@given(parsers.parse('"{command}" was run by hand on target "{target}"'))
def _(
    command: str,
    target: str,
    world: dict[str, Any],
    fleet_databases: FleetDatabases,  # noqa: F811
) -> None:
    words = command.split()
    assert words[0] == "migrator" and words[2] == "shop.yaml"
    argv = [words[1], str(world["plan"]), *words[3:]]
    apply_by_hand(fleet_databases, world["plan"], target, *argv)
    _snapshot(world, fleet_databases)


@given(parsers.parse('the run on target "{target}" was left interrupted'))
def _(target: str, fleet_databases: FleetDatabases) -> None:  # noqa: F811
    execute(
        fleet_databases,
        target,
        "update migrator.runs set status = 'interrupted', finished_at = null "
        "where id = (select max(id) from migrator.runs)",
    )


@given(parsers.parse('the table "{table}" was made on targets "{names}"'))
def _(table: str, names: str, fleet_databases: FleetDatabases) -> None:  # noqa: F811
    for name in _names(names):
        execute(fleet_databases, name, f"create table {table} (id int)")


@given(parsers.parse('the table "{table}" was dropped on target "{target}"'))
def _(table: str, target: str, fleet_databases: FleetDatabases) -> None:  # noqa: F811
    execute(fleet_databases, target, f"drop table {table}")


@given(
    parsers.parse(
        'the fleet\'s target "{name}" is a server that accepts connections and never answers'
    )
)
def _(
    name: str, world: dict[str, Any], mute_port: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name(name), f"postgresql://u:hush@127.0.0.1:{mute_port[0]}/x")
    add_targets(world["fleet"], [f'  - {{name: {name}, dsn: "${{env:{env_name(name)}}}"}}'])


@given("the fleet was rolled back once")
def _(
    world: dict[str, Any],
    fleet_databases: FleetDatabases,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "fleet", "rollback", world["fleet"], world["plan"])
    assert code == 0, out + err
    _snapshot(world, fleet_databases)


@given("the fleet was rolled back once, leaving a target moved since")
def _(
    world: dict[str, Any],
    fleet_databases: FleetDatabases,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(capsys, "fleet", "rollback", world["fleet"], world["plan"])
    assert code == 1 and "moved since" in out, out + err
    _snapshot(world, fleet_databases)


@then(parsers.parse('the fleet\'s targets "{names}" are in phase "{phase}"'))
def _(names: str, phase: str, fleet_databases: FleetDatabases) -> None:  # noqa: F811
    for name in _names(names):
        assert fleet_databases.phase(name, "shop") == phase, name


@then(parsers.parse('the fleet\'s target "{name}" is in phase "{phase}", its runs untouched'))
def _(
    name: str,
    phase: str,
    world: dict[str, Any],
    fleet_databases: FleetDatabases,  # noqa: F811
) -> None:
    assert fleet_databases.phase(name, "shop") == phase
    assert runs_of(fleet_databases, name) == world["runs"][name]


@then(parsers.parse('the fleet\'s targets "{names}" have no schema "{schema}"'))
def _(names: str, schema: str, fleet_databases: FleetDatabases) -> None:  # noqa: F811
    for name in _names(names):
        found = fleet_databases.sql(name, f"select to_regnamespace('{schema}')")
        assert found == [(None,)], name


@then(parsers.parse('the output shows "{first}" taken back before "{second}"'))
def _(first: str, second: str, world: dict[str, Any]) -> None:
    out = world["output"]
    assert out.index(f"{first} (wave") < out.index(f"{second} (wave"), out


@then("no DSN of the fleet is in the output")
def _(world: dict[str, Any], fleet_databases: FleetDatabases) -> None:  # noqa: F811
    for dsn in fleet_databases.dsns.values():
        assert dsn not in world["output"]
    assert "hush" not in world["output"]
    if world["stdout"].startswith("{"):
        json.loads(world["stdout"])
