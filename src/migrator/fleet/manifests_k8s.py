"""`fleet export --format k8s`: an Indexed Job per wave (docs/fleet-export.md).

Each index of a wave's Job is one target (`JOB_COMPLETION_INDEX` chooses it in the pod's
script); `parallelism` is the wave's, `backoffLimitPerIndex` the fleet's retry attempts,
`maxFailedIndexes` the wave's `max_failures`, and the `podFailurePolicy` reads
migrator's exit codes: 1, 2, 3 and 6 fail the target at once (no retry); 4, 5, 130 and 143
(stopped by SIGINT, SIGTERM) count against its retries; a pod evicted or preempted
(`DisruptionTarget`) is not counted.
Kubernetes orders no Jobs: waves are applied one after the other (the commands are in
`commands`). Needs Kubernetes 1.29 or newer (per-index backoff: beta in 1.29, GA 1.33).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from migrator.fleet.pods import (
    PREFIX,
    RETRIED_CODES,
    ExportWave,
    Rollout,
    container,
    exact_names,
    labels,
    namespace_flag,
    plan_config_map,
    pod_script,
    pod_security,
    volumes,
)

FAIL_INDEX_CODES = (1, 2, 3, 6)
"""A check failed and was undone, bad usage, undo failed, a bug: retrying cannot help."""


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
    matches wins): `RETRIED_CODES` (locked, unreachable, stopped) counted against
    `backoffLimitPerIndex` and retried, as Argo's `retryStrategy` does."""
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


JOB_END = """job_end() {  # wait for the Job $1 to end: on Complete go on, on Failed stop
  local ended='jsonpath={.status.conditions[?(@.status=="True")].type}'
  while :; do
    case " $(kubectl get "job/$1"NS -o "$ended") " in
      *" Complete "*) return 0 ;;
      *" Failed "*) echo "job $1 failed: the rollout stops (kubectl describe job/$1)" >&2
        exit 1 ;;
    esac
    sleep 10
  done
}"""
"""A shell function: `kubectl wait --for=condition=complete` alone never returns when the
Job ends Failed (MaxFailedIndexesExceeded, FailedIndexes, BackoffLimitExceeded)."""


def commands(rollout: Rollout, secret_lines: list[str], source: str) -> list[str]:
    """The commands that run the rollout, in order (bash), `source` being where the
    manifests are (a file or a folder): the Secret, the plan, then each wave's Job, waited
    for until it completes (a Failed Job stops the script, exit 1); a bake waits, an
    approval asks a person."""
    namespace = namespace_flag(rollout)
    where = shlex.quote(source)
    lines = [*secret_lines, *JOB_END.replace("NS", namespace).splitlines()]
    lines.append(f"kubectl apply -f {where}{namespace} -l {PREFIX}part=plan")
    jobs = [wave for wave in rollout.waves if wave.targets]
    for number, wave in enumerate(jobs, 1):
        name = rollout.object_name(wave)
        if wave.approval:
            lines.append(f'read -r -p "wave {wave.name} needs an approval: enter to approve "')
        lines.append(f"kubectl apply -f {where}{namespace} -l {PREFIX}part={name}")
        lines.append(f"job_end {name}")
        if wave.bake is not None and number < len(jobs):
            lines.append(f"sleep {int(wave.bake)}  # wave {wave.name}'s bake")
    return lines
