"""`fleet export --format argo`: one Argo Workflow (docs/fleet-export.md).

Its entry is a DAG of the waves, each depending on the one before (through its bake, a
timed `suspend`, and the next wave's approval, a `suspend` a person resumes). A wave is a
steps template fanning out over its targets (`withItems`) `parallelism` at a time; each
target is a pod of one `migrator apply`, retried on exit 4, 5, 130 and 143 only (`retryStrategy`
with the fleet's attempts and backoff). Every target of a wave runs, and a failure stops
the rollout after the wave: Argo counts no failures, and its `failFast` takes a failed
attempt that `retryStrategy` would retry for the target's failure (no retry follows, and
the workflow may hang: argoproj/argo-workflows#5398, #16849), so a wave is `failFast` (no
target starts after a failure, as `fleet apply` with `max_failures: 0`) only when it
allows no failure and the fleet retries nothing (`retry: {attempts: 0}`).
"""

from __future__ import annotations

import shlex
from typing import Any

from migrator.fleet.pods import (
    PREFIX,
    RETRIED_CODES,
    ExportWave,
    Rollout,
    container,
    dns_label,
    exact_names,
    labels,
    namespace_flag,
    pod_script,
    pod_security,
    seconds,
    volumes,
)

RETRY_EXPRESSION = 'lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [{}]'.format(
    ", ".join(map(str, RETRIED_CODES))
)
"""Tried again: `RETRIED_CODES` (a lock held elsewhere (4), an unreachable database (5),
migrator stopped by SIGINT (130) or SIGTERM (143: a node drained, a pod preempted)) and a
pod Argo lost (Error: deleted, evicted); a stopped run, left interrupted, is resumed by
the next `migrator apply`. Not a failure of the target itself (1, 2, 3, 6)."""


def manifests(rollout: Rollout) -> list[dict[str, Any]]:
    from migrator.fleet.pods import plan_config_map

    return [plan_config_map(rollout), workflow(rollout)]


def workflow(rollout: Rollout) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "generateName": dns_label(f"{rollout.fleet}-{rollout.plan}-{rollout.to}", 57) + "-",
        "labels": {**labels(rollout), PREFIX + "part": "workflow"},
        "annotations": exact_names(rollout),
    }
    if rollout.namespace:
        metadata["namespace"] = rollout.namespace
    waves = [wave for wave in rollout.waves if wave.targets]
    templates: list[dict[str, Any]] = [{"name": "rollout", "dag": {"tasks": tasks(waves)}}]
    if any(wave.approval for wave in waves):
        templates.append({"name": "approval", "suspend": {}})
    for wave in waves:
        templates += wave_templates(rollout, wave)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {
            "entrypoint": "rollout",
            "securityContext": pod_security(),
            "volumes": volumes(rollout),
            "templates": templates,
        },
    }


def task_name(kind: str, wave: ExportWave) -> str:
    return dns_label(f"{kind}-{wave.name}")


def tasks(waves: list[ExportWave]) -> list[dict[str, Any]]:
    """The DAG: [approve-W ->] wave-W [-> bake-W] -> the next wave's first task."""
    found: list[dict[str, Any]] = []
    before: str | None = None

    def add(name: str, template: str) -> None:
        nonlocal before
        task: dict[str, Any] = {"name": name, "template": template}
        if before is not None:
            task["dependencies"] = [before]
        found.append(task)
        before = name

    for wave in waves:
        if wave.approval:
            add(task_name("approve", wave), "approval")
        add(task_name("wave", wave), task_name("wave", wave))
        if wave.bake is not None and wave is not waves[-1]:
            add(task_name("bake", wave), task_name("bake", wave))
    return found


def wave_templates(rollout: Rollout, wave: ExportWave) -> list[dict[str, Any]]:
    fan_out: dict[str, Any] = {
        "name": "target",
        "template": task_name("apply", wave),
        "arguments": {"parameters": [{"name": "target", "value": "{{item}}"}]},
        "withItems": [t.name for t in wave.targets],
    }
    steps: dict[str, Any] = {
        "name": task_name("wave", wave),
        "parallelism": wave.parallel,
        "steps": [[fan_out]],
    }
    if wave.max_failures == 0 and not rollout.attempts:
        steps["failFast"] = True  # safe without retryStrategy only (see above)
    apply: dict[str, Any] = {
        "name": task_name("apply", wave),
        "inputs": {"parameters": [{"name": "target"}]},
        "metadata": {"labels": labels(rollout, wave)},
        "container": container(
            rollout,
            pod_script(rollout, wave, by_index=False),
            [{"name": "MIGRATOR_TARGET", "value": "{{inputs.parameters.target}}"}],
        ),
    }
    if rollout.attempts:
        apply["retryStrategy"] = {
            "limit": str(rollout.attempts),
            "retryPolicy": "Always",
            "expression": RETRY_EXPRESSION,
            "backoff": {
                "duration": seconds(rollout.backoff) + "s",
                "factor": "2",
                "cap": seconds(rollout.longest) + "s",
            },
        }
    found = [steps, apply]
    if wave.bake is not None:
        found.append({"name": task_name("bake", wave), "suspend": {"duration": seconds(wave.bake)}})
    return found


def commands(rollout: Rollout, secret_lines: list[str], source: str) -> list[str]:
    """The commands that run the rollout (bash), `source` being where the manifests are."""
    namespace = namespace_flag(rollout)
    where = shlex.quote(source)
    lines = [
        *secret_lines,
        f"kubectl apply -f {where}{namespace} -l {PREFIX}part=plan",
        f"kubectl create -f {where}{namespace} -l {PREFIX}part=workflow",
        f"argo watch{namespace} @latest",
    ]
    for wave in rollout.waves:
        if wave.approval and wave.targets:
            node = task_name("approve", wave)
            lines.append(
                f"argo resume{namespace} @latest --node-field-selector displayName={node}"
                f"  # approves wave {wave.name}"
            )
    return lines
