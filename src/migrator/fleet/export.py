"""`migrator fleet export`: the rollout as manifests for a scheduler (docs/fleet-export.md).

The fleet and the plan become a `Rollout` (names, vars, waves, retry: no DSN), which
`manifests_k8s` or `manifests_argo` turn into plain dicts, written as YAML on stdout (one
stream, each document separated) or one file each in `--out DIR`, with the commands that
run them: first, the Secret of the DSNs, made by a person from environment variables.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from migrator import __version__
from migrator.errors import ExitCode, UsageError
from migrator.fleet.pods import ExportWave, PodTarget, Rollout, dns_label, namespace_flag, selector
from migrator.fleet.session import FleetSession


@dataclass(frozen=True)
class ExportOptions:
    image: str | None = None
    """Default: `migrator:<version>` (the Dockerfile's image, tagged)."""
    secret: str | None = None
    """The Secret of the DSNs; default `<fleet>-targets`."""
    namespace: str | None = None
    out: Path | None = None
    operator: str | None = None


def export_fleet(
    session: FleetSession,
    to: str | None,
    export_format: str,
    options: ExportOptions | None = None,
) -> ExitCode:
    """Write the manifests of the rollout to `to` in `export_format` (k8s or argo)."""
    from migrator.fleet import manifests_argo, manifests_k8s

    chosen = options or ExportOptions()
    check_names(chosen)
    if not session.targets:
        raise UsageError(f"fleet {session.fleet.name} has no target: nothing to export")
    rollout = rollout_of(session, to, chosen)
    module: Any = manifests_k8s if export_format == "k8s" else manifests_argo
    documents: list[dict[str, Any]] = module.manifests(rollout)
    secret = secret_commands(session, rollout)
    names = [f"{n:02d}-{_name_of(d)}.yaml" for n, d in enumerate(documents)]
    source = "." if chosen.out else "rollout.yaml"  # commands.sh runs in its own folder
    lines: list[str] = module.commands(rollout, secret, source)
    head = header(rollout, export_format, lines, saved=chosen.out is None)
    texts = [dump(d) for d in documents]
    for text in [head, *texts]:
        if text in session.secrets:
            raise UsageError(
                "a manifest would hold a secret of the fleet (a DSN's password or an "
                "${env:...} value, in the plan or a target's vars): nothing written"
            )
    if chosen.out is None:
        session.ctx.out.write(head + "---\n".join(texts))
        return ExitCode.OK
    chosen.out.mkdir(parents=True, exist_ok=True)
    for name, text in zip(names, texts, strict=True):
        (chosen.out / name).write_text(text, encoding="utf-8")
    script = (
        "#!/usr/bin/env bash\n"
        + head
        + "set -euo pipefail\n"
        + 'cd "$(dirname "$0")"  # the manifests are beside this script\n'
        + "\n".join(lines)
        + "\n"
    )
    (chosen.out / "commands.sh").write_text(script, encoding="utf-8")
    for name in [*names, "commands.sh"]:
        print(f"wrote {chosen.out / name}", file=session.ctx.err)
    return ExitCode.OK


def rollout_of(session: FleetSession, to: str | None, options: ExportOptions) -> Rollout:
    plan = session.plan
    if to is None:
        if plan.kind != "hotfix":
            raise UsageError(
                f"fleet export needs --to PHASE (plan {plan.name}'s phases: "
                f"{', '.join(plan.phases)})"
            )
        to = "applied"
    try:
        text = session.plan_file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # read a moment ago: changed since
        raise UsageError(f"cannot read the plan {session.plan_file}: {exc}") from None
    key = session.plan_file.name
    waves = tuple(
        ExportWave(
            wave.name,
            tuple(PodTarget(t.name, {**t.vars, **session.ctx.variables}) for t in targets),
            wave.parallel,
            wave.max_failures,
            wave.bake,
            wave.approval,
        )
        for wave, targets in session.waves()
    )
    retry = session.fleet.spec.retry
    return Rollout(
        fleet=session.fleet.name,
        plan=plan.name,
        plan_key=key if re.fullmatch(r"[-._a-zA-Z0-9]+", key) else "plan.yaml",
        plan_text=text,
        to=to,
        waves=waves,
        attempts=retry.attempts,
        backoff=retry.backoff,
        longest=retry.longest,
        image=options.image or f"migrator:{__version__}",
        secret=options.secret or dns_label(f"{session.fleet.name}-targets"),
        namespace=options.namespace,
        assume_yes=session.ctx.assume_yes,
        operator=options.operator,
    )


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SUBDOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)


def check_names(options: ExportOptions) -> None:
    """--namespace a DNS-1123 label, --secret a DNS-1123 subdomain, as Kubernetes wants
    them: else bad usage (exit 2), naming the option (the value shown escaped)."""
    if options.namespace is not None and not _LABEL.fullmatch(options.namespace):
        raise UsageError(
            f"--namespace {options.namespace!r} is not a Kubernetes namespace name (a "
            "DNS-1123 label: at most 63 lowercase letters, digits and '-', a letter or "
            "digit at each end)"
        )
    if options.secret is not None and not _SUBDOMAIN.fullmatch(options.secret):
        raise UsageError(
            f"--secret {options.secret!r} is not a Kubernetes Secret name (a DNS-1123 "
            "subdomain: at most 253 lowercase letters, digits, '-' and '.', a letter or "
            "digit at each end of each part)"
        )


_ENV_REFERENCE = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")


def secret_commands(session: FleetSession, rollout: Rollout) -> list[str]:
    """`kubectl create secret generic` with a key per target, each value read from an
    environment variable by bash (`<(printf ...)`: no DSN on any command line). The
    variable is the one the fleet file names (`${env:NAME}`), else `DSN_<TARGET>`."""
    named: dict[str, str] = {}
    listed = session.fleet.spec.targets
    if isinstance(listed, list):
        named = {t.name: m[1] for t in listed if (m := _ENV_REFERENCE.match(t.dsn))}
    secret = shlex.quote(rollout.secret)
    lines = [f"kubectl create secret generic {secret}{namespace_flag(rollout)} \\"]
    for target in session.targets:
        variable = named.get(target.name) or "DSN_" + re.sub(r"\W", "_", target.name).upper()
        key = shlex.quote(target.name)
        lines.append(f'  --from-file={key}=<(printf %s "${variable}") \\')
    lines[-1] = lines[-1].removesuffix(" \\")
    return lines


def header(rollout: Rollout, export_format: str, lines: list[str], *, saved: bool) -> str:
    kind = (
        "an Indexed Job per wave, Kubernetes 1.29 or newer"
        if export_format == "k8s"
        else ("an Argo Workflow")
    )
    waves = ", ".join(
        f"{w.name} ({len(w.targets)})" if w.targets else f"{w.name} (no target: left out)"
        for w in rollout.waves
    )
    text = [
        f"migrator fleet export: fleet {rollout.fleet}, plan {rollout.plan} to {rollout.to}, "
        f"as {kind}.",
        f"Waves in order: {waves}.",
        f"No DSN is in these manifests: the Secret {rollout.secret} holds them, one key per "
        "target; make it first.",
        *(
            f"Pods of wave {w.name}: kubectl get pods{namespace_flag(rollout)} -l "
            + selector(rollout, w)
            for w in rollout.waves
            if w.targets
        ),
        "Run, in bash" + (", with this output saved as rollout.yaml:" if saved else ":"),
        *(f"  {line}" for line in lines),
        "See docs/fleet-export.md for what each part does, and what differs from fleet apply.",
    ]
    return "".join(f"# {part}\n" for line in text for part in line.splitlines() or [""])


class _Dumper(yaml.SafeDumper):
    """safe_dump's dumper; a text of several lines (the plan, a script) as a block."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_represent: Callable[[yaml.SafeDumper, str], yaml.ScalarNode] = _text
_Dumper.add_representer(str, _represent)


def dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _name_of(document: dict[str, Any]) -> str:
    metadata = document["metadata"]
    name = metadata.get("name") or metadata["generateName"].rstrip("-")
    return f"{document['kind'].lower()}-{name}"
