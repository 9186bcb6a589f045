"""One pod of an exported rollout (`fleet export`): what it runs, what it mounts, how its
objects are named. Plain data in, plain dicts out; `manifests_k8s` and `manifests_argo`
build on it.

A pod runs one `migrator apply` of one target. Its DSN is never in a manifest: the
Secret `rollout.secret` (made by a person, one key per target name) is mounted at
`TARGETS_DIR`, and the pod's script points `MIGRATOR_DSN_FILE` at its target's file.
The plan comes from a ConfigMap of the plan file's text, mounted at `PLAN_DIR`.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from typing import Any

TARGETS_DIR = "/etc/migrator/targets"
PLAN_DIR = "/etc/migrator/plan"
PREFIX = "migrator/"
"""The prefix of our labels and annotations."""
RETRIED_CODES = (4, 5, 130, 143)
"""A pod's exit codes tried again: a lock held elsewhere (4), an unreachable database (5),
migrator stopped by SIGINT (130) or SIGTERM (143: a node drained, a pod preempted), its
run left interrupted for the next `migrator apply` to resume."""
USER_ID = 10001
"""The user (and group) the Dockerfile's image runs as: the pod runs as it too."""


@dataclass(frozen=True)
class PodTarget:
    """A target as a pod knows it: its name (its Secret key) and its `--var`s."""

    name: str
    variables: dict[str, str]


@dataclass(frozen=True)
class ExportWave:
    name: str
    targets: tuple[PodTarget, ...]
    parallel: int
    max_failures: int
    bake: float | None
    approval: bool


@dataclass(frozen=True)
class Rollout:
    """Everything an export writes: no DSN among it."""

    fleet: str
    plan: str
    plan_key: str
    """The plan file's name in the ConfigMap (and in the pod, under `PLAN_DIR`)."""
    plan_text: str
    to: str
    waves: tuple[ExportWave, ...]
    attempts: int
    backoff: float
    longest: float
    image: str
    secret: str
    namespace: str | None = None
    assume_yes: bool = False
    operator: str | None = None

    @property
    def plan_config_map(self) -> str:
        return dns_label(f"{self.fleet}-{self.plan}-plan")

    def object_name(self, wave: ExportWave) -> str:
        """A wave's Job name: fleet, plan, phase and wave, DNS-1123 safe; at most 56, as
        its pods' host names are `<job>-<index>` (63 at most)."""
        return dns_label(f"{self.fleet}-{self.plan}-{self.to}-{wave.name}", 56)


def namespace_flag(rollout: Rollout) -> str:
    """` -n NAMESPACE` for a kubectl command (shell-quoted), or nothing."""
    return f" -n {shlex.quote(rollout.namespace)}" if rollout.namespace else ""


_UNSAFE = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str, limit: int = 63) -> str:
    """`text` as a DNS-1123 label (lowercase letters, digits, '-'; a letter or digit at
    each end; at most `limit`). A text changed on the way (case, '_', '.', cut short) gets
    8 hex digits of its hash, so that two names never meet in one."""
    label = _UNSAFE.sub("-", text.lower()).strip("-")
    if label == text and len(label) <= limit:
        return label
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    head = label[: limit - 9].rstrip("-")
    return f"{head}-{digest}" if head else digest


_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """`text` as a label value: at most 63 of letters, digits, '-', '_', '.', a letter or
    digit at each end. A text changed on the way (a character replaced, an end trimmed, cut
    short) gets 8 hex digits of its hash, as `dns_label` does: `rest.` and `rest` stay two
    values (the exact text is in an annotation beside it)."""
    value = _LABEL_VALUE.sub("-", text)
    if value == text and len(value) <= 63 and _LABEL_ENDS.fullmatch(value):
        return value
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    head = re.sub(r"[^A-Za-z0-9]+$", "", re.sub(r"^[^A-Za-z0-9]+", "", value)[:54])
    return f"{head}-{digest}" if head else digest


_LABEL_ENDS = re.compile(r"[A-Za-z0-9](.*[A-Za-z0-9])?", re.S)


def labels(rollout: Rollout, wave: ExportWave | None = None) -> dict[str, str]:
    found = {
        "app.kubernetes.io/name": "migrator",
        "app.kubernetes.io/managed-by": "migrator",
        PREFIX + "fleet": label_value(rollout.fleet),
        PREFIX + "plan": label_value(rollout.plan),
        PREFIX + "to": label_value(rollout.to),
    }
    if wave is not None:
        found[PREFIX + "wave"] = label_value(wave.name)
    return {k: v for k, v in found.items() if v}


def selector(rollout: Rollout, wave: ExportWave) -> str:
    """The label selector of a wave's pods (`kubectl get pods -l ...`), its values as the
    labels have them (`label_value`: maybe changed from the names)."""
    chosen = labels(rollout, wave)
    return ",".join(
        f"{PREFIX}{key}={chosen[PREFIX + key]}" for key in ("fleet", "plan", "to", "wave")
    )


def exact_names(rollout: Rollout, wave: ExportWave | None = None) -> dict[str, str]:
    """The exact names (labels may have had to change them)."""
    found = {PREFIX + "fleet": rollout.fleet, PREFIX + "plan": rollout.plan}
    found[PREFIX + "to"] = rollout.to
    if wave is not None:
        found[PREFIX + "wave"] = wave.name
        found[PREFIX + "parallel"] = str(wave.parallel)
        found[PREFIX + "max-failures"] = str(wave.max_failures)
        if wave.bake is not None:
            found[PREFIX + "bake-seconds"] = seconds(wave.bake)
        if wave.approval:
            found[PREFIX + "approval"] = "required before this wave"
    return found


def seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def apply_args(rollout: Rollout) -> list[str]:
    """`migrator apply`'s arguments, the same for every target (its vars come after)."""
    args = ["apply", f"{PLAN_DIR}/{rollout.plan_key}", "--to", rollout.to]
    if rollout.assume_yes:
        args.append("--yes")
    if rollout.operator:
        args += ["--operator", rollout.operator]
    return [*args, "--output", "json", "--log-format", "json"]


def var_args(target: PodTarget) -> list[str]:
    args: list[str] = []
    for name, value in target.variables.items():
        args += ["--var", f"{name}={value}"]
    return args


def pod_script(rollout: Rollout, wave: ExportWave, *, by_index: bool) -> str:
    """The pod's shell script: its target (by `JOB_COMPLETION_INDEX` for a Kubernetes
    Indexed Job; else `MIGRATOR_TARGET`, given by Argo), that target's `--var`s, its DSN
    file, then `exec migrator apply ...` (migrator's exit code is the pod's)."""
    lines = ["set -eu"]
    if by_index:
        lines.append('case "$JOB_COMPLETION_INDEX" in')
        for index, target in enumerate(wave.targets):
            given = shlex.join(var_args(target))
            chosen = f"MIGRATOR_TARGET={shlex.quote(target.name)}; set -- {given}".rstrip()
            lines.append(f"  {index}) {chosen} ;;")
        lines.append(
            '  *) echo "migrator: no target at index $JOB_COMPLETION_INDEX" >&2; exit 2 ;;'
        )
        lines.append("esac")
    elif any(t.variables for t in wave.targets):
        lines.append('case "$MIGRATOR_TARGET" in')
        for target in wave.targets:
            if target.variables:
                lines.append(
                    f"  {shlex.quote(target.name)}) set -- {shlex.join(var_args(target))} ;;"
                )
        lines += ["  *) set -- ;;", "esac"]
    else:
        lines.append("set --")
    lines.append(f'export MIGRATOR_DSN_FILE="{TARGETS_DIR}/$MIGRATOR_TARGET"')
    lines.append(f'exec migrator {shlex.join(apply_args(rollout))} "$@"')
    return "\n".join(lines) + "\n"


def container(
    rollout: Rollout, script: str, env: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The container: the image, `sh -c SCRIPT`, the two mounts read only, no privilege."""
    found: dict[str, Any] = {
        "name": "migrator",
        "image": rollout.image,
        "command": ["/bin/sh", "-c", script],
        "volumeMounts": [
            {"name": "targets", "mountPath": TARGETS_DIR, "readOnly": True},
            {"name": "plan", "mountPath": PLAN_DIR, "readOnly": True},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if env:
        found["env"] = env
    return found


def pod_security() -> dict[str, Any]:
    """The pod's user: not root; the Secret's files group-readable by it (`fsGroup`)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def volumes(rollout: Rollout) -> list[dict[str, Any]]:
    """The Secret of the DSNs (its files readable by the pod's group only) and the plan."""
    return [
        {"name": "targets", "secret": {"secretName": rollout.secret, "defaultMode": 0o440}},
        {"name": "plan", "configMap": {"name": rollout.plan_config_map}},
    ]


def plan_config_map(rollout: Rollout) -> dict[str, Any]:
    """The plan file as a ConfigMap: plans hold no secret (`${env:...}` stays a reference)."""
    metadata: dict[str, Any] = {
        "name": rollout.plan_config_map,
        "labels": {**labels(rollout), PREFIX + "part": "plan"},
        "annotations": exact_names(rollout),
    }
    if rollout.namespace:
        metadata["namespace"] = rollout.namespace
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "data": {rollout.plan_key: rollout.plan_text},
    }
