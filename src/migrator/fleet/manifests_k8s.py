"""`fleet export --format k8s`: an Indexed Job per wave (docs/fleet-export.md).

Each index of a wave's Job is one target (`JOB_COMPLETION_INDEX` chooses it in the pod's
script); `parallelism` is the wave's, `backoffLimitPerIndex` the fleet's retry attempts,
`maxFailedIndexes` the wave's `max_failures`, and the `podFailurePolicy` reads
migrator's exit codes: 1, 2, 3 and 6 fail the target at once (no retry), 4 and 5 count
against its retries, a pod evicted or preempted (`DisruptionTarget`) is not counted.
Kubernetes orders no Jobs: waves are applied one after the other (the commands are in
`commands`). Needs Kubernetes 1.29 or newer (per-index backoff: beta in 1.29, GA 1.33).
"""

from __future__ import annotations

import json
from typing import Any

from migrator.fleet.pods import (
    PREFIX,
    ExportWave,
    Rollout,
    container,
    exact_names,
    labels,
    plan_config_map,
    pod_script,
    pod_security,
    volumes,
)

FAIL_INDEX_CODES = (1, 2, 3, 6)
"""A check failed and was undone, bad usage, undo failed, a bug: retrying cannot help."""
RETRIED_CODES = (4, 5)
"""Locked, unreachable: retried (as `fleet apply` does), up to `backoffLimitPerIndex`."""


def manifests(rollout: Rollout) -> list[dict[str, Any]]:
    """The plan's ConfigMap, then a Job per wave that has targets, in wave order."""
    found = [plan_config_map(rollout)]
    found += [job(rollout, wave) for wave in rollout.waves if wave.targets]
    return found


def job(rollout: Rollout, wave: ExportWave) -> dict[str, Any]:
    count = len(wave.targets)
    metadata: dict[str, Any] = {
        "name": rollout.object_name(wave),
        "labels": {**labels(rollout, wave), PREFIX + "part": rollout.object_name(wave)},
        "annotations": {
            **exact_names(rollout, wave),
            PREFIX + "targets": json.dumps([t.name for t in wave.targets]),
        },
    }
    if rollout.namespace:
        metadata["namespace"] = rollout.namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "completionMode": "Indexed",
            "completions": count,
            "parallelism": min(wave.parallel, count),
            "backoffLimitPerIndex": rollout.attempts,
            "maxFailedIndexes": min(wave.max_failures, count),
            "podFailurePolicy": failure_policy(),
            "template": {
                "metadata": {"labels": labels(rollout, wave)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [container(rollout, pod_script(rollout, wave, by_index=True))],
                    "volumes": volumes(rollout),
                },
            },
        },
    }


def failure_policy() -> dict[str, Any]:
    """Migrator's exit codes as Kubernetes reads a pod's end (the first rule that
    matches wins; a code no rule names, 130 or 143, counts like 4 and 5)."""
    return {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {
                "action": "FailIndex",
                "onExitCodes": {
                    "containerName": "migrator",
                    "operator": "In",
                    "values": list(FAIL_INDEX_CODES),
                },
            },
            {
                "action": "Count",
                "onExitCodes": {
                    "containerName": "migrator",
                    "operator": "In",
                    "values": list(RETRIED_CODES),
                },
            },
        ]
    }


def commands(rollout: Rollout, secret_lines: list[str], source: str) -> list[str]:
    """The commands that run the rollout, in order (bash), `source` being where the
    manifests are (a file or a folder): the Secret, the plan, then each wave's Job, waited
    for; a bake waits, an approval asks a person."""
    lines = [*secret_lines, f"kubectl apply -f {source} -l {PREFIX}part=plan"]
    jobs = [wave for wave in rollout.waves if wave.targets]
    for number, wave in enumerate(jobs, 1):
        name = rollout.object_name(wave)
        if wave.approval:
            lines.append(f'read -r -p "wave {wave.name} needs an approval: enter to approve "')
        lines.append(f"kubectl apply -f {source} -l {PREFIX}part={name}")
        lines.append(f"kubectl wait --for=condition=complete --timeout=24h job/{name}")
        if wave.bake is not None and number < len(jobs):
            lines.append(f"sleep {int(wave.bake)}  # wave {wave.name}'s bake")
    return lines
