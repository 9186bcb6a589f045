"""Scenarios of features/fleet/export.feature, run through the command line."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from pytest_bdd import given, parsers, scenarios, then

from tests import fleets
from tests.exports import argo_errors, k8s_validate, no_secret_in
from tests.fleets import FleetDatabases

fleet_databases = fleets.fleet_databases  # the fixture, used by name

scenarios("fleet/export.feature")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _documents(world: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(world["stdout"]) if d]


def _job(world: dict[str, Any], wave: str) -> dict[str, Any]:
    for document in _documents(world):
        if document["metadata"].get("annotations", {}).get("migrator/wave") == wave:
            return document
    raise AssertionError(f"no Job of wave {wave}")


@given(parsers.parse('the fleet "{name}" of the targets "{targets}" in the waves:'))
def _(
    name: str, targets: str, docstring: str, world: dict[str, Any], fleet_databases: FleetDatabases
) -> None:
    chosen: dict[str, str | None] = {}
    for entry in targets.split(", "):
        target, _, group = entry.partition(" (")
        chosen[target] = group.rstrip(")") or None
    waves = "".join(f"  {line}\n" for line in docstring.splitlines())
    fleet_databases.write(chosen, waves=waves, name=name)
    world["fleet"] = fleet_databases
    world["no_database"] = True  # a fleet command names its own databases


@then("every manifest is valid against the Kubernetes schema")
def _(world: dict[str, Any]) -> None:
    documents = _documents(world)
    assert documents
    for document in documents:
        k8s_validate(document)


@then(
    parsers.parse(
        'the Job of wave "{wave}" runs the targets "{targets}" by index, {parallel:d} at a '
        "time, {failures:d} failure allowed"
    )
)
def _(wave: str, targets: str, parallel: int, failures: int, world: dict[str, Any]) -> None:
    job = _job(world, wave)
    names = targets.split(", ")
    assert json.loads(job["metadata"]["annotations"]["migrator/targets"]) == names
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"]) == (len(names), parallel)
    assert spec["maxFailedIndexes"] == failures
    script = spec["template"]["spec"]["containers"][0]["command"][2]
    for index, name in enumerate(names):
        assert f"  {index}) MIGRATOR_TARGET={name};" in script


@then(
    parsers.parse(
        'the Job of wave "{wave}" fails a target at once on exit "{failed}" and retries it '
        'on "{retried}"'
    )
)
def _(wave: str, failed: str, retried: str, world: dict[str, Any]) -> None:
    spec = _job(world, wave)["spec"]
    codes = {
        rule["action"]: rule["onExitCodes"]["values"]
        for rule in spec["podFailurePolicy"]["rules"]
        if "onExitCodes" in rule
    }
    assert codes == {
        "FailIndex": [int(c) for c in failed.split(", ")],
        "Count": [int(c) for c in retried.split(", ")],
    }
    assert spec["backoffLimitPerIndex"] == 3  # the fleet's retry attempts (default)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


@then("the Workflow is valid against the Argo schema")
def _(world: dict[str, Any]) -> None:
    workflows = [d for d in _documents(world) if d["kind"] == "Workflow"]
    assert len(workflows) == 1
    assert argo_errors(workflows[0]) == []


@then(parsers.parse('the Workflow runs "{tasks}" one after the other'))
def _(tasks: str, world: dict[str, Any]) -> None:
    workflow = next(d for d in _documents(world) if d["kind"] == "Workflow")
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    dag = templates[workflow["spec"]["entrypoint"]]["dag"]["tasks"]
    names = tasks.split(", ")
    assert [t["name"] for t in dag] == names
    for before, task in zip(names, dag[1:], strict=False):
        assert task["dependencies"] == [before]
    for task in dag:
        if task["name"].startswith("approve-"):
            assert templates[task["template"]]["suspend"] == {}


@then("no DSN and no password is in the output")
def _(world: dict[str, Any]) -> None:
    no_secret_in(world["output"], world["fleet"])


@then("every object's name is a DNS-1123 label, none twice")
def _(world: dict[str, Any]) -> None:
    names = [d["metadata"]["name"] for d in _documents(world)]
    assert len(set(names)) == len(names)
    for name in names:
        assert DNS_LABEL.match(name), name
