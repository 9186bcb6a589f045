"""The whole story of a fleet on real databases, through the commands alone: `fleet apply`
stops at a failing target, `fleet rollback` takes back exactly the targets it moved, a
second `fleet apply` after the fix moves every target, and `fleet rollback` takes them
all back (the issue's "fleet rollback moves back exactly the moved targets")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fleets import FleetDatabases, env_name, fleet_databases  # noqa: F401
from tests.helpers import run_cli
from tests.plans import phased
from tests.poolers import Poolers

PLAN = "tenants"
WAVES = (
    "  - {name: canary, match: {group: canary}}\n"
    "  - {name: first, match: {group: first}, parallel: 2}\n"
    "  - {name: rest, parallel: 2}\n"
)
# fails on a target where the table `poison` exists: a division by zero
POISONED = "select 1 / (1 - (select count(*) from pg_class where relname = 'poison'))::int"


def run_ids(dbs: FleetDatabases, target: str) -> list[int]:
    if dbs.sql(target, "select to_regclass('migrator.runs')") == [(None,)]:
        return []
    return [int(str(r[0])) for r in dbs.sql(target, "select id from migrator.runs order by id")]


def has_table(dbs: FleetDatabases, target: str) -> bool:
    return dbs.sql(target, "select to_regclass('public.made') is not null") == [(True,)]


def execute(dbs: FleetDatabases, target: str, statement: str) -> None:
    with psycopg.connect(dbs.dsns[target], autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def document(out: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(out)
    return parsed


@pytest.fixture
def dbs(request: pytest.FixtureRequest) -> FleetDatabases:
    made: FleetDatabases = request.getfixturevalue("fleet_databases")
    return made


def test_apply_stops_rollback_takes_back_exactly_the_moved_then_apply_and_rollback_all(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = {"internal": "canary", "one": "canary", "two": "first", "three": None, "four": None}
    fleet = dbs.write(targets, WAVES)
    steps = [
        "name: make\nsql: create table made (id int)\nrollback: {sql: drop table made}",
        f'name: poison check\nsql: "{POISONED}"',
    ]
    plan = tmp_path / "tenants.yaml"
    plan.write_text(phased(PLAN, steps, phases=("legacy", "dual")), "utf-8")
    execute(dbs, "two", "create table poison ()")

    # 1. the canary wave moves `internal` and `one`; in the next wave `two` fails (its run
    #    undone) and the rollout stops: `three` and `four` never start.
    code, out, err = run_cli(
        capsys, "fleet", "apply", fleet, plan, "--to", "dual", "--output", "json"
    )
    assert code == 1, out + err
    states = {t["name"]: t["state"] for t in document(out)["targets"]}
    assert states == {
        "internal": "moved",
        "one": "moved",
        "two": "failed",
        "three": "not_started",
        "four": "not_started",
    }
    # (a failed run leaves no phase recorded: the plan is where it started, legacy)
    assert [dbs.phase(t, PLAN) for t in targets] == ["dual", "dual", None, None, None]
    untouched = {t: run_ids(dbs, t) for t in ("two", "three", "four")}
    assert untouched["three"] == [] and untouched["four"] == []

    # 2. fleet rollback takes back exactly the two it moved, and touches no other target
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet, plan, "--output", "json")
    assert code == 0, out + err
    assert [dbs.phase(t, PLAN) for t in targets] == ["legacy", "legacy", None, None, None]
    assert not has_table(dbs, "internal") and not has_table(dbs, "one")
    assert {t: run_ids(dbs, t) for t in ("two", "three", "four")} == untouched

    # 3. after the fix, fleet apply starts a new rollout and moves every target
    execute(dbs, "two", "drop table poison")
    code, out, err = run_cli(
        capsys, "fleet", "apply", fleet, plan, "--to", "dual", "--output", "json"
    )
    assert code == 0, out + err
    assert {t["state"] for t in document(out)["targets"]} == {"moved"}
    assert all(dbs.phase(t, PLAN) == "dual" and has_table(dbs, t) for t in targets)

    # 4. and fleet rollback takes every one back, each by one run of its own
    before = {t: len(run_ids(dbs, t)) for t in targets}
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet, plan)
    assert code == 0, out + err
    assert all(dbs.phase(t, PLAN) == "legacy" and not has_table(dbs, t) for t in targets)
    assert {t: len(run_ids(dbs, t)) - before[t] for t in targets} == dict.fromkeys(targets, 1)

    # 5. a rollback again finds nothing left to take back, and changes nothing
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet, plan)
    assert code == 0, out + err
    assert {t: len(run_ids(dbs, t)) - before[t] for t in targets} == dict.fromkeys(targets, 1)


def test_rollback_gives_the_undo_the_vars_the_apply_was_given(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`fleet apply --var owner=cli`, then `fleet rollback` with no --var: each undo sees
    owner=cli (recorded in the ledger), not the plan's default, as its step did."""
    fleet = dbs.write({"internal": "canary", "acme": None}, WAVES)
    steps = [
        "name: own\nsql: create table owned (owner text); insert into owned values (:owner)\n"
        'rollback: {sql: "delete from owned where owner = :owner; '
        "select 1 / (select count(*) from owned where owner = 'nobody')::int; drop table owned\"}",
    ]
    plan = tmp_path / "owned.yaml"
    text = phased(PLAN, steps, phases=("legacy", "dual"), variables="{owner: nobody}")
    plan.write_text(text, "utf-8")
    code, out, err = run_cli(
        capsys, "fleet", "apply", fleet, plan, "--to", "dual", "--var", "owner=cli"
    )
    assert code == 0, out + err
    assert dbs.sql("acme", "select owner from owned") == [("cli",)]
    # The undo deletes the rows of ITS owner, then divides by the rows 'nobody' still owns:
    # with a 'nobody' row there it passes only if it was given owner=cli (given the plan's
    # default, owner=nobody, it deletes that row and divides by zero: exit 3).
    for target in ("internal", "acme"):
        execute(dbs, target, "insert into owned values ('nobody')")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet, plan)
    assert code == 0, out + err
    for target in ("internal", "acme"):
        assert dbs.phase(target, PLAN) == "legacy"
        assert dbs.sql(target, "select to_regclass('public.owned')") == [(None,)]


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("a plan with an unknown key", "tenants.yaml:1:1"),
        ("a phase the plan does not have", "has no phase 'nowhere'"),
        ("a fleet file with an unknown key", "fleet.yaml:"),
    ],
)
def test_a_malformed_plan_or_fleet_file_touches_no_target_and_writes_no_ledger(
    dbs: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    said: str,
) -> None:
    fleet = dbs.write({"internal": "canary", "acme": None}, WAVES)
    plan = tmp_path / "tenants.yaml"
    plan.write_text(
        phased(PLAN, ["name: make\nsql: create table made (id int)"], phases=("legacy", "dual")),
        "utf-8",
    )
    to = "dual"
    if case == "a plan with an unknown key":
        plan.write_text("colour: blue\n" + plan.read_text("utf-8"), "utf-8")
    elif case == "a phase the plan does not have":
        to = "nowhere"
    else:
        fleet.write_text(fleet.read_text("utf-8") + "parallelism: 4\n", "utf-8")
    code, out, err = run_cli(capsys, "fleet", "apply", fleet, plan, "--to", to)
    assert code == 2, out + err
    assert said in err
    assert not fleet.with_name(fleet.name + ".ledger.json").exists()
    assert run_ids(dbs, "internal") == [] and run_ids(dbs, "acme") == []


def test_a_target_behind_a_transaction_pooler_is_refused_untouched_and_stops_the_rollout(
    dbs: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    poolers: Poolers,
) -> None:
    """The canary reached through PgBouncer in transaction mode: its `migrator apply`
    refuses (no session to hold the plan's lock), writes nothing there, and the rollout
    stops before the next wave; `fleet status` reads it through the pooler all the same."""
    fleet = dbs.write({"internal": "canary", "acme": None}, WAVES)
    monkeypatch.setenv(env_name("internal"), poolers("transaction").dsn(dbs.dsns["internal"]))
    plan = tmp_path / "tenants.yaml"
    plan.write_text(
        phased(PLAN, ["name: make\nsql: create table made (id int)"], phases=("legacy", "dual")),
        "utf-8",
    )
    code, out, err = run_cli(
        capsys, "fleet", "apply", fleet, plan, "--to", "dual", "--output", "json"
    )
    assert code == 2, out + err
    states = {t["name"]: t["state"] for t in document(out)["targets"]}
    assert states == {"internal": "failed", "acme": "not_started"}
    assert "pooler in transaction mode" in err
    assert dbs.sql("internal", "select to_regnamespace('migrator') is null") == [(True,)]
    assert run_ids(dbs, "acme") == []
    code, out, err = run_cli(capsys, "fleet", "status", fleet, plan, "--output", "json")
    assert code == 0, out + err
    assert {t["name"]: t["phase"] for t in document(out)["targets"]} == {
        "internal": "legacy",
        "acme": "legacy",
    }
