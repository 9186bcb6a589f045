"""`migrator fleet export`: the manifests validated against the published schemas
(Kubernetes' own, shipped by kubernetes-validate; Argo's, vendored in
tests/data/argo-workflows), what each maps from the fleet, no DSN anywhere, and each
Job's pod script run for real: every index reaches its target's database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import fleets
from tests.exports import argo_errors, k8s_validate, no_secret_in
from tests.fleets import FleetDatabases
from tests.plans import phased

PLAN = phased(
    "widgets",
    [
        "{sql: 'create table widgets (id int, owner text)'}",
        "{sql: 'insert into widgets values (1, :owner)'}",
    ],
    variables="{owner: nobody}",
)
WAVES = (
    "  - {name: canary, match: {group: canary}, bake: 10m}\n"
    "  - {name: rest, parallel: 4, max_failures: 1, approval: true}\n"
)
fleet_databases = fleets.fleet_databases  # the fixture, used by name
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def export(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    from migrator.cli import main

    capsys.readouterr()
    code = main(["fleet", "export", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fleet_and_plan(
    fleet: FleetDatabases, tmp_path: Path, **targets: str | None
) -> tuple[Path, Path]:
    chosen = targets or {"internal": "canary", "acme": None, "beta": None}
    path = fleet.write(
        chosen, waves=WAVES, extra="retry: {attempts: 2, backoff: 2s, longest: 30s}\n"
    )
    plan = tmp_path / "widgets.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    return path, plan


def test_k8s_an_indexed_job_per_wave_valid_against_kubernetes_schemas(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "k8s", "--yes")
    assert code == 0, err
    no_secret_in(out + err, fleet_databases)
    documents = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job", "Job"]
    for document in documents:
        k8s_validate(document)
    config_map, canary, rest = documents
    assert config_map["data"] == {"widgets.yaml": PLAN}
    assert canary["metadata"]["name"] == "tenants-widgets-b-canary"
    assert json.loads(rest["metadata"]["annotations"]["migrator/targets"]) == ["acme", "beta"]
    spec = rest["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (2, 1)
    assert canary["spec"]["maxFailedIndexes"] == 0
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    by_action = {r["action"]: r["onExitCodes"]["values"] for r in rules[1:]}
    assert by_action == {"FailIndex": [1, 2, 3, 6], "Count": [4, 5]}
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["volumes"][0]["secret"]["secretName"] == "tenants-targets"
    assert rest["metadata"]["annotations"]["migrator/approval"]
    assert canary["metadata"]["annotations"]["migrator/bake-seconds"] == "600"
    head = out.split("apiVersion", 1)[0]
    assert '--from-file=acme=<(printf %s "$FLEET_DSN_ACME")' in head
    order = [line for line in head.splitlines() if "kubectl apply" in line or "read -r" in line]
    assert [("read" if "read -r" in line else line.rsplit("=", 1)[1]) for line in order] == [
        "plan",
        "tenants-widgets-b-canary",
        "read",
        "tenants-widgets-b-rest",
    ]


def run_pod(script: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The pod's script in a real sh, /etc/migrator moved under `root`, `migrator` being
    this checkout's (python -m migrator)."""
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "migrator"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m migrator "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    moved = script.replace("/etc/migrator", str(root / "etc"))
    full = {**os.environ, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for name in ("MIGRATOR_DSN", "DATABASE_URL", "MIGRATOR_DSN_FILE"):
        full.pop(name, None)
    return subprocess.run(
        ["/bin/sh", "-c", moved], env=full, capture_output=True, text=True, timeout=120
    )


def pod_of_wave_rest(out: str, scheduler: str) -> tuple[str, list[dict[str, str]]]:
    """The script of wave rest's pods, and the environment that picks each of its two
    targets, then a third that names none (as Kubernetes or Argo would give them)."""
    documents = list(yaml.safe_load_all(out))
    if scheduler == "k8s":
        container = documents[2]["spec"]["template"]["spec"]["containers"][0]
        picks = [{"JOB_COMPLETION_INDEX": str(i)} for i in range(3)]
    else:
        templates = {t["name"]: t for t in documents[1]["spec"]["templates"]}
        container = templates["apply-rest"]["container"]
        assert container["env"] == [
            {"name": "MIGRATOR_TARGET", "value": "{{inputs.parameters.target}}"}
        ]
        picks = [{"MIGRATOR_TARGET": name} for name in ("Acme_EU", "beta", "gone")]
    return container["command"][2], picks


@pytest.mark.parametrize("scheduler", ["k8s", "argo"])
def test_each_pod_applies_its_own_target_from_the_mounted_secret(
    scheduler: str,
    fleet_databases: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A wave's pod as the kubelet would run it: the Secret's files, the ConfigMap's plan,
    `JOB_COMPLETION_INDEX` (or Argo's item); each pod moves exactly its target, with its
    own vars, and a pod without a target is exit 2."""
    fleet = fleet_databases.write(
        {"internal": "canary", "Acme_EU": None, "beta": None},
        waves=WAVES,
    )
    text = fleet.read_text(encoding="utf-8").replace(
        "{name: Acme_EU,", '{name: Acme_EU, vars: {owner: "o\'brien $HOME"},'
    )
    fleet.write_text(text, encoding="utf-8")
    plan = tmp_path / "widgets.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", scheduler)
    assert code == 0, err
    script, picks = pod_of_wave_rest(out, scheduler)
    root = tmp_path / "pod"
    (root / "etc" / "plan").mkdir(parents=True)
    (root / "etc" / "plan" / "widgets.yaml").write_text(PLAN, encoding="utf-8")
    secrets = root / "etc" / "targets"
    secrets.mkdir()
    try:
        for name, dsn in fleet_databases.dsns.items():
            (secrets / name).write_text(dsn + "\n", encoding="utf-8")
        ended = run_pod(script, root, picks[0])
        assert ended.returncode == 0, ended.stderr[-2000:]
        assert fleet_databases.phase("Acme_EU", "widgets") == "b"
        assert fleet_databases.sql("Acme_EU", "select owner from widgets") == [("o'brien $HOME",)]
        assert fleet_databases.phase("beta", "widgets") is None  # its pod: not run yet
        assert fleet_databases.phase("internal", "widgets") is None  # another wave
        ended = run_pod(script, root, picks[1])
        assert ended.returncode == 0, ended.stderr[-2000:]
        assert fleet_databases.sql("beta", "select owner from widgets") == [("nobody",)]
        no_secret_in(ended.stdout + ended.stderr, fleet_databases)
        ended = run_pod(script, root, picks[2])
        assert ended.returncode == 2
        expected = "no target at index 2" if scheduler == "k8s" else "gone: cannot read it"
        assert expected in ended.stderr
    finally:
        for file in secrets.iterdir():
            file.unlink()  # no DSN left in a file for the sweep to find


def test_argo_a_workflow_of_waves_valid_against_argo_schema(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "argo")
    assert code == 0, err
    no_secret_in(out + err, fleet_databases)
    config_map, workflow = yaml.safe_load_all(out)
    k8s_validate(config_map)
    assert argo_errors(workflow) == []
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    tasks = templates["rollout"]["dag"]["tasks"]
    assert [(t["name"], t.get("dependencies")) for t in tasks] == [
        ("wave-canary", None),
        ("bake-canary", ["wave-canary"]),
        ("approve-rest", ["bake-canary"]),
        ("wave-rest", ["approve-rest"]),
    ]
    assert templates["approval"] == {"name": "approval", "suspend": {}}
    assert templates["bake-canary"]["suspend"] == {"duration": "600"}
    rest = templates["wave-rest"]
    assert rest["parallelism"] == 4 and "failFast" not in rest  # max_failures: 1
    assert "failFast" not in templates["wave-canary"]  # it would stop a retry (#16849)
    assert rest["steps"][0][0]["withItems"] == ["acme", "beta"]
    retry = templates["apply-rest"]["retryStrategy"]
    assert retry["expression"] == (
        'lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [4, 5]'
    )
    assert (retry["limit"], retry["backoff"]) == (
        "2",
        {"duration": "2s", "factor": "2", "cap": "30s"},
    )
    assert "argo resume @latest --node-field-selector displayName=approve-rest" in out


def test_argo_fails_fast_only_without_retries(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`max_failures: 0` and no retry: after a failure no target of the wave starts."""
    fleet = fleet_databases.write(
        {"internal": "canary", "acme": None}, waves=WAVES, extra="retry: {attempts: 0}\n"
    )
    plan = tmp_path / "widgets.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "argo")
    assert code == 0, err
    workflow = list(yaml.safe_load_all(out))[1]
    assert argo_errors(workflow) == []
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    assert templates["wave-canary"]["failFast"] is True  # max_failures: 0
    assert "failFast" not in templates["wave-rest"]  # max_failures: 1
    assert "retryStrategy" not in templates["apply-canary"]


def test_argo_schema_check_catches_a_misspelt_key() -> None:
    """The strict schema is not a rubber stamp."""
    bad = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "x-"},
        "spec": {"entrypoint": "a", "templates": [{"name": "a", "suspend": {}, "paralelism": 2}]},
    }
    assert any("paralelism" in e for e in argo_errors(bad))


def test_hostile_names_become_safe_distinct_objects(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Names a fleet allows and Kubernetes does not (capitals, '_', '.', a trailing '-',
    63 characters): DNS-1123 labels, distinct, the exact names kept in annotations."""
    long = "W" + "x" * 62
    waves = (
        "  - {name: Canary_1, match: {name: 'Tenant*'}}\n"
        "  - {name: canary.1, match: {name: 'z*'}}\n"
        f"  - {{name: {long}}}\n"
    )
    fleet = fleet_databases.write(
        {"Tenant_A.eu": None, "z-": None, "b": None}, waves=waves, fleet="Big_Fleet"
    )
    plan = tmp_path / "widgets.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "k8s")
    assert code == 0, err
    documents = list(yaml.safe_load_all(out))
    names = [d["metadata"]["name"] for d in documents]
    assert len(set(names)) == len(names) == 4
    for document in documents:
        k8s_validate(document)
        assert DNS_LABEL.match(document["metadata"]["name"]), document["metadata"]["name"]
        if document["kind"] == "Job":  # its pods' host names: <job>-<index>, 63 at most
            assert len(document["metadata"]["name"]) <= 56
        for value in document["metadata"]["labels"].values():
            assert LABEL_VALUE.match(value) and len(value) <= 63, value
    waves_named = [d["metadata"]["annotations"]["migrator/wave"] for d in documents[1:]]
    assert waves_named == ["Canary_1", "canary.1", long]
    assert json.loads(documents[1]["metadata"]["annotations"]["migrator/targets"]) == [
        "Tenant_A.eu"
    ]
    assert "--from-file=Tenant_A.eu=<(" in out
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "argo")
    assert code == 0, err
    workflow = list(yaml.safe_load_all(out))[1]
    assert argo_errors(workflow) == []


def test_out_writes_a_file_per_object_and_the_commands(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    out_dir = tmp_path / "manifests"
    code, out, _ = export(capsys, fleet, plan, "--to", "b", "--format", "k8s", "--out", out_dir)
    assert (code, out) == (0, "")
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == [
        "00-configmap-tenants-widgets-plan.yaml",
        "01-job-tenants-widgets-b-canary.yaml",
        "02-job-tenants-widgets-b-rest.yaml",
        "commands.sh",
    ]
    commands = (out_dir / "commands.sh").read_text(encoding="utf-8")
    assert f"kubectl apply -f {out_dir} -l migrator/part=tenants-widgets-b-rest" in commands
    for file in out_dir.iterdir():
        no_secret_in(file.read_text(encoding="utf-8"), fleet_databases)
        if file.suffix == ".yaml":
            k8s_validate(yaml.safe_load(file.read_text(encoding="utf-8")))


def test_bad_usage_is_exit_2(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    code, _, err = export(capsys, fleet, plan, "--to", "b", "--format", "nomad")
    assert code == 2 and "'nomad' is not one of" in err
    code, _, err = export(capsys, fleet, plan, "--format", "k8s")
    assert code == 2 and "needs --to PHASE" in err
    code, _, err = export(capsys, fleet, plan, "--to", "z", "--format", "k8s")
    assert code == 2 and "no phase 'z'" in err
    empty = tmp_path / "empty.yaml"
    empty.write_text("fleet: none\ntargets: []\n", encoding="utf-8")
    code, out, err = export(capsys, empty, plan, "--to", "b", "--format", "argo")
    assert (code, out) == (2, "") and "has no target: nothing to export" in err


def test_a_secret_in_a_var_is_refused_not_written(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target's var holding a DSN's password would reach a manifest: refused, exit 2."""
    from migrator.db.target import Target

    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    password = Target(fleet_databases.dsns["acme"], "test").password
    assert password
    code, out, err = export(
        capsys, fleet, plan, "--to", "b", "--format", "argo", "--var", f"owner={password}"
    )
    assert (code, out) == (2, "")
    assert "would hold a secret" in err and password not in err


def test_dockerfile_installs_the_project_and_runs_as_no_root() -> None:
    """No docker here to build it: its text, at least, does what the export relies on."""
    root = Path(__file__).parent.parent.parent
    text = (root / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.12-slim$", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    assert re.search(r"^USER 10001:10001$", text, re.M)  # the pods' runAsUser
    assert re.search(r'^ENTRYPOINT \["migrator"\]$', text, re.M)
    ignored = (root / ".dockerignore").read_text(encoding="utf-8")
    assert "!src/" in ignored and "!plugins/" in ignored
