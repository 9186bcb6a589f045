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
    assert by_action == {"FailIndex": [1, 2, 3, 6], "Count": [4, 5, 130, 143]}
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
        'lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [4, 5, 130, 143]'
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
    assert "kubectl apply -f . -l migrator/part=tenants-widgets-b-rest" in commands
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


FAKE_KUBECTL = '''#!{python}
"""kubectl for commands.sh: records its argv and folder; `get job/X -o jsonpath=...` says
Failed for the job in FAKE_FAILED_JOB, else Complete; `wait` on that job never returns, as
the real `kubectl wait --for=condition=complete` does on a Failed Job."""
import json, os, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"argv": args, "cwd": os.getcwd()}}) + "\\n")
failed = "job/" + os.environ.get("FAKE_FAILED_JOB", "-")
if args[0] == "get":
    print("FailureTarget Failed" if failed in args else "Complete", end="")
elif args[0] == "wait" and failed in args:
    time.sleep(3600)
'''


def run_commands(
    script: Path, tmp_path: Path, failed_job: str = "-"
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    """`script` run by bash from another folder, kubectl and sleep faked on PATH; its end
    and the kubectl calls it made."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable), encoding="utf-8")
    kubectl.chmod(0o755)
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (bin_dir / "sleep").chmod(0o755)
    log = tmp_path / "kubectl.log"
    log.write_text("", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_FAILED_JOB": failed_job,
    }
    ended = subprocess.run(
        ["bash", str(script)],
        cwd=elsewhere,
        env=env,
        input="\n\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    calls = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return ended, calls


def test_hostile_namespace_or_secret_is_bad_usage_naming_the_option(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's case: a namespace and a Secret name that would run commands and end
    the header's comment. Refused (exit 2), nothing written, nothing run."""
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    out_dir = tmp_path / "outdir"
    pwn = tmp_path / "PWN3"
    hostile = f"x; touch {pwn}\nkind: Evil"
    code, out, err = export(
        capsys, fleet, plan, "--to", "b", "--format", "k8s", "--namespace", hostile
    )
    assert (code, out) == (2, "") and "--namespace 'x; touch" in err
    assert "not a Kubernetes namespace name" in err
    code, out, err = export(
        capsys, fleet, plan, "--to", "b", "--format", "argo", "--secret",
        f"a$(touch {pwn})", "--out", out_dir,
    )  # fmt: skip
    assert (code, out) == (2, "") and "--secret 'a$(touch" in err
    assert not out_dir.exists() and not pwn.exists()
    for good in ("prod-1", "db.targets"):  # a label; a subdomain (a Secret's name may have '.')
        code, out, err = export(
            capsys, fleet, plan, "--to", "b", "--format", "k8s", "--secret", good
        )
        assert code == 0, err
    code, _, err = export(
        capsys, fleet, plan, "--to", "b", "--format", "k8s", "--namespace", "db.targets"
    )
    assert code == 2 and "--namespace" in err  # a namespace is a label: no '.'


@pytest.mark.parametrize("scheduler", ["k8s", "argo"])
def test_commands_sh_runs_from_anywhere_its_arguments_intact(
    scheduler: str,
    fleet_databases: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """commands.sh in a folder whose name is shell syntax, run by bash from another
    folder: kubectl is called in the manifests' folder, with each argument whole, and
    nothing the folder's name says is run; the header stays comments."""
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    out_dir = tmp_path / "a b; $(touch PWN5) `touch PWN6`"
    code, out, err = export(
        capsys, fleet, plan, "--to", "b", "--format", scheduler,
        "--namespace", "prod-1", "--secret", "db.targets", "--out", out_dir,
    )  # fmt: skip
    assert (code, out) == (0, ""), err
    script = out_dir / "commands.sh"
    head = script.read_text(encoding="utf-8").split("set -euo pipefail\n", 1)[0]
    assert all(line.startswith(("#!", "#")) for line in head.splitlines())
    if scheduler == "argo":  # argo itself is not faked: the kubectl part only
        text = script.read_text(encoding="utf-8")
        script.write_text(text.split("\nargo watch", 1)[0] + "\n", encoding="utf-8")
    ended, calls = run_commands(script, tmp_path)
    assert ended.returncode == 0, ended.stderr
    assert not list(tmp_path.rglob("PWN*"))
    assert {c["cwd"] for c in calls} == {str(out_dir)}
    create = calls[0]["argv"]
    assert isinstance(create, list) and create[:6] == [
        "create", "secret", "generic", "db.targets", "-n", "prod-1",
    ]  # fmt: skip
    assert [a.split("=", 2)[:2] for a in create[6:]] == [
        ["--from-file", "internal"], ["--from-file", "acme"], ["--from-file", "beta"],
    ]  # fmt: skip
    applied = [c["argv"] for c in calls[1:] if c["argv"][0] in ("apply", "create")]
    assert applied[0] == ["apply", "-f", ".", "-n", "prod-1", "-l", "migrator/part=plan"]
    if scheduler == "k8s":
        assert [a[-1] for a in applied] == [
            "migrator/part=plan",
            "migrator/part=tenants-widgets-b-canary",
            "migrator/part=tenants-widgets-b-rest",
        ]
        gets = [c["argv"] for c in calls if c["argv"][0] == "get"]
        assert [g[:4] for g in gets] == [
            ["get", "job/tenants-widgets-b-canary", "-n", "prod-1"],
            ["get", "job/tenants-widgets-b-rest", "-n", "prod-1"],
        ]
    else:
        assert applied[1] == ["create", "-f", ".", "-n", "prod-1", "-l", "migrator/part=workflow"]


def test_commands_sh_stops_at_a_failed_wave(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wave's Job ends Failed (MaxFailedIndexesExceeded...): the script says so and
    stops, exit 1, the next wave's Job never applied (before: `kubectl wait
    --for=condition=complete --timeout=24h` waited its 24 hours)."""
    fleet, plan = fleet_and_plan(fleet_databases, tmp_path)
    out_dir = tmp_path / "manifests"
    code, _, err = export(capsys, fleet, plan, "--to", "b", "--format", "k8s", "--out", out_dir)
    assert code == 0, err
    ended, calls = run_commands(out_dir / "commands.sh", tmp_path, "tenants-widgets-b-canary")
    assert ended.returncode == 1
    assert "job tenants-widgets-b-canary failed: the rollout stops" in ended.stderr
    applied = [c["argv"][-1] for c in calls if c["argv"][0] == "apply"]
    assert applied == ["migrator/part=plan", "migrator/part=tenants-widgets-b-canary"]


def test_wave_label_values_stay_distinct_and_the_header_names_them(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Waves `rest` and `rest.`: one label value each (a changed one ends with a hash),
    and the header gives each wave's selector as its pods' labels have it."""
    waves = "  - {name: rest, match: {name: a}}\n  - {name: rest., match: {name: b}}\n"
    fleet = fleet_databases.write({"a": None, "b": None}, waves=waves)
    plan = tmp_path / "widgets.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "k8s")
    assert code == 0, err
    jobs = list(yaml.safe_load_all(out))[1:]
    pod_labels = [j["spec"]["template"]["metadata"]["labels"] for j in jobs]
    values = [labels["migrator/wave"] for labels in pod_labels]
    assert values[0] == "rest" and values[1].startswith("rest-") and len(set(values)) == 2
    for job, labels in zip(jobs, pod_labels, strict=True):
        k8s_validate(job)
        wave = job["metadata"]["annotations"]["migrator/wave"]
        selector = ",".join(
            f"migrator/{key}={labels['migrator/' + key]}" for key in ("fleet", "plan", "to", "wave")
        )
        assert f"# Pods of wave {wave}: kubectl get pods -l {selector}\n" in out


def test_a_stopped_pod_is_retried_by_both_schedulers_and_resumed(
    fleet_databases: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pod's migrator stopped by SIGTERM (a node drained) exits 143, its run left
    interrupted: both exports retry that code, and the next `migrator apply` finishes."""
    import psycopg

    from tests.processes import spawn, wait_for

    fleet, _ = fleet_and_plan(fleet_databases, tmp_path, a=None)
    plan = tmp_path / "gated.yaml"
    plan.write_text(
        phased("gated", ["{sql: 'select pg_advisory_lock(42)'}", "{sql: 'create table t ()'}"]),
        encoding="utf-8",
    )
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "k8s")
    assert code == 0, err
    rules = list(yaml.safe_load_all(out))[1]["spec"]["podFailurePolicy"]["rules"]
    counted = next(r["onExitCodes"]["values"] for r in rules if r["action"] == "Count")
    code, out, err = export(capsys, fleet, plan, "--to", "b", "--format", "argo")
    assert code == 0, err
    templates = list(yaml.safe_load_all(out))[1]["spec"]["templates"]
    expression = next(t["retryStrategy"]["expression"] for t in templates if "retryStrategy" in t)
    retried = json.loads(expression.rsplit(" in ", 1)[1])
    dsn = fleet_databases.dsns["a"]
    with psycopg.connect(dsn, autocommit=True) as gate:
        gate.execute("select pg_advisory_lock(42)")
        proc = spawn("apply", plan, "--to", "b", env={"MIGRATOR_DSN": dsn})

        def waiting() -> bool:
            row = gate.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted"
                " and database = (select oid from pg_database where datname = current_database())"
            ).fetchone()
            return row is not None and row[0] == 1

        wait_for(waiting, proc=proc)
        proc.terminate()
        gate.execute("select pg_advisory_unlock(42)")
        proc.communicate(timeout=60)
    stopped = proc.returncode
    assert stopped == 143
    assert stopped in counted and stopped in retried
    assert counted == retried == [4, 5, 130, 143]
    again = spawn("apply", plan, "--to", "b", env={"MIGRATOR_DSN": dsn})
    assert again.wait(timeout=60) == 0
    assert fleet_databases.phase("a", "gated") == "b"
