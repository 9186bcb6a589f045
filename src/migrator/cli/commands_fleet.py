"""`migrator fleet apply | status | rollback | plan | export`: one plan, many databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from migrator.cli.group import cli
from migrator.cli.options import output_option, parse_vars, run_context

FLEET_ARG = click.argument("fleet_file", metavar="FLEET", type=click.Path(dir_okay=False))
PLAN_ARG = click.argument("plan", type=click.Path(dir_okay=False))
TO = click.option(
    "--to", "to", metavar="PHASE", help="The phase to reach (hotfix: default applied)."
)
VAR = click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    callback=parse_vars,
    help="Override a plan variable on every target (repeatable; wins over a target's vars).",
)
YES = click.option(
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Confirm the waves' approval gates and the plan's without prompting.",
)
OPERATOR = click.option(
    "--operator",
    metavar="NAME",
    help="Who runs this, for every target's audit trail. Default: the OS user.",
)
LOG_FORMAT = click.option(
    "--log-format",
    type=click.Choice(["json"]),
    help="Also write every target's events to stderr, one JSON line each, with its target.",
)


@cli.group()
def fleet() -> None:
    """One plan across many databases: canary first, in waves.

    FLEET is a fleet file: its targets (a list, a query on a control database, or a
    file) and its waves, in order (`match` on group or name, `parallel`,
    `max_failures`, `bake`, `approval`). Each target is moved exactly as `migrator
    apply` moves it: its own lock and audit trail in its own database. The fleet's
    own record, which targets a rollout moved, is its ledger: a JSON file beside the
    fleet file, or a table in the database its `ledger:` names. See docs/fleets.md.

    Exit codes: 0 every target is in the phase; else the most serious of the
    targets' codes (3, then 6, 1, 2, 5, 4); 130 / 143 stopped by a signal.
    """


# -- fleet apply --------------------------------------------------------------------------


@fleet.command("apply")
@FLEET_ARG
@PLAN_ARG
@TO
@VAR
@YES
@OPERATOR
@output_option
@LOG_FORMAT
def fleet_apply(fleet_file: str, plan: str, to: str | None, **options: Any) -> int:
    """Move PLAN to PHASE on every target of FLEET, wave by wave.

    Each target is read first: one already in PHASE is skipped. The others run
    `migrator apply PLAN --to PHASE` each, as a process of its own (its DSN in its
    environment), `parallel` at a time; exit 4 and 5 are tried again with a growing
    wait. A wave ends when all its targets have; more than its `max_failures`
    targets ending with exit 1, 2, 3 or 6 stop the rollout (those under way finish,
    none starts after, nor tries again). `bake` looks at the post-checks of the wave's moved targets
    again for that long, read only: one that fails stops the rollout, undoing
    nothing. A wave with `approval` is asked on a terminal; without one it needs
    --yes. The plan's own approval gates: --yes approves them on every target; on a
    terminal you are asked once for the whole rollout; else each target declines.

    Resume: run it again. The ledger continues the plan's last rollout to PHASE
    (with the same --var's once it moved a target; they are recorded): targets
    moved are skipped, an interrupted target's run is resumed by its own apply. A
    target counts as moved by the rollout only when the run that brought it to
    PHASE was made by one of its own processes (their pids are in the ledger);
    another operator's run is never claimed. Ctrl-C or SIGTERM: no target starts,
    the stop is passed on to the targets under way (again: they stop at once). A
    SIGKILL leaves the targets' processes to finish alone; the ledger says which
    were running, and apply again finds what they did by their pids.

    Exit codes: 0 every target is in PHASE; 1 a target failed, or the rollout
    stopped (a bake, an approval not given); else the most serious of the targets'
    codes (3, 6, 1, 2, 5, 4); 4 also when another fleet command holds the ledger;
    130 / 143 stopped by a signal.
    """
    from migrator import api

    return api.fleet_apply(_context(**options), fleet_file, plan, to)


# -- fleet status -------------------------------------------------------------------------


@fleet.command("status")
@FLEET_ARG
@PLAN_ARG
@output_option
def fleet_status(fleet_file: str, plan: str, **options: Any) -> int:
    """Each target's phase and last run, read from the target itself.

    Every target's own `migrator` schema is read (read only, 16 targets at a time,
    each within the fleet file's `timeout`, default 10s) and joined with the
    ledger's latest rollout of PLAN: what it did to each target (moved, failed,
    rolled back...). The ledger is only read, never held: status runs beside a
    `fleet apply` under way. A run left open on a target (interrupted, undo failed)
    is named with the command that settles it on that target.

    Exit codes: 0 every target was read; 5 one or more could not be read in time
    (each is marked unreachable with its reason, the others shown all the same).
    """
    from migrator import api

    return api.fleet_status(_context(**options), fleet_file, plan)


# -- fleet rollback -----------------------------------------------------------------------


@fleet.command("rollback")
@FLEET_ARG
@PLAN_ARG
@VAR
@YES
@OPERATOR
@output_option
@LOG_FORMAT
def fleet_rollback(fleet_file: str, plan: str, **options: Any) -> int:
    """Take back exactly the targets the last `fleet apply` moved, to the phase it found
    each in.

    What to take back is read from each target itself: its runs made by the rollout's
    commands (the ledger records their pids), last wave first, each wave `parallel` at
    a time with the fleet's retries and `max_failures`. A target the rollout did not
    move is never touched; one already back needs nothing; one moved since by another
    run (its last completed run, or a run open on it, not the rollout's) is left as it
    is (`moved_since`, exit 1). Each target is taken back by `migrator rollback PLAN`
    (its own process, lock and audit trail; an interrupted run of the rollout's is
    undone); one the rollout moved through several transitions then by `migrator apply
    PLAN --to FROM` along the plan's way back (a plan with no reverse transitions:
    `rollback_failed`, exit 2). `rolled_back` only once in the phase the rollout found
    it in. The targets' vars, the apply's --var values (from the ledger) and these
    --var (they win) are given to each command. A killed or stopped `fleet apply` is
    rolled back the same way. Running it again retries what is left; once all are back
    it has nothing to do. The ledger is held for the whole command.

    Exit codes: 0 every target the rollout moved is back (or nothing to take back);
    never 0 while one is left moved: else the most serious of the targets' codes (3,
    6, 1, 2, 5, 4), a target moved since counting as 1; 4 another fleet command holds
    the ledger; 130 / 143 stopped by a signal (no target starts after it; each command
    under way stops at its next safe point: `fleet rollback` again finishes it).
    """
    from migrator import api

    return api.fleet_rollback(_context(**options), fleet_file, plan)


# -- fleet plan ---------------------------------------------------------------------------


@fleet.command("plan")
@FLEET_ARG
@PLAN_ARG
@TO
@VAR
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Each target's dry run at most this long (default: the fleet's timeout, "
    "at least 60 s); one over it is stopped and is exit 5.",
)
@output_option
def fleet_plan(
    fleet_file: str, plan: str, to: str | None, timeout: float | None, **options: Any
) -> int:
    """The dry run of every target: what `migrator plan` shows for each.

    Each target's `migrator plan PLAN --to PHASE` runs as a process of its own, wave
    by wave, `parallel` at a time: its phase now, the transitions it would take (or
    that it is in the phase already) and the pre-checks that would fail today. Like
    `migrator plan` it writes nothing: not on a target (not even schema `migrator`),
    not in the ledger. `--output json` holds every target's whole dry run document.

    Nothing is tried again (the dry run is of now). A target whose dry run takes
    longer than --timeout (a lock held on its schema `migrator`) is stopped and
    reported as "did not answer within N s"; the others go on. Ctrl-C or SIGTERM
    stops the dry runs under way at once.

    Exit codes: 0 every target's dry run was made (whatever its pre-checks found);
    else the most serious of the targets' codes (2 a plan it refuses, 5 unreachable
    or not answering in time); 130 / 143 stopped by a signal.
    """
    from migrator import api

    return api.fleet_plan(_context(**options), fleet_file, plan, to, timeout)


# -- fleet export -------------------------------------------------------------------------


@fleet.command("export")
@FLEET_ARG
@PLAN_ARG
@TO
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["k8s", "argo"]),
    required=True,
    help="k8s: a ConfigMap of the plan and an Indexed Job per wave; argo: the ConfigMap "
    "and one Argo Workflow.",
)
@click.option(
    "--image",
    metavar="IMAGE",
    help="The image of migrator the pods run (the repository's Dockerfile builds one). "
    "Default: migrator:<this version>.",
)
@click.option(
    "--secret",
    metavar="NAME",
    help="The Secret holding the DSNs, one key per target name (made by you: the commands "
    "are printed); a DNS-1123 subdomain (lowercase letters, digits, '-', '.'). "
    "Default: <fleet>-targets.",
)
@click.option(
    "--namespace",
    metavar="NAME",
    help="The namespace of every object (and -n NAME in every command); a DNS-1123 label "
    "(lowercase letters, digits, '-').",
)
@click.option(
    "--out",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per object and commands.sh (the commands, in order; it runs "
    "from any folder and stops at a wave whose Job failed) into DIR; default: one YAML "
    "stream on stdout.",
)
@VAR
@click.option(
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Put --yes in every pod's command: the plan's own approval gates confirmed (a pod "
    "has no terminal to ask). A wave's approval stays a person's (docs/fleet-export.md).",
)
@click.option(
    "--operator",
    "pod_operator",
    metavar="NAME",
    help="Who runs the rollout, for every target's audit trail. Default: the pod's user.",
)
def fleet_export(
    fleet_file: str,
    plan: str,
    to: str | None,
    export_format: str,
    image: str | None,
    secret: str | None,
    namespace: str | None,
    out: Path | None,
    pod_operator: str | None,
    **options: Any,
) -> int:
    """The rollout as manifests for a scheduler, each pod one `migrator apply` of one
    target: for Kubernetes (--format k8s) an Indexed Job per wave, the target chosen by
    its index; for Argo Workflows (--format argo) a Workflow whose DAG runs the waves in
    order, a suspend before a wave with approval. No DSN is ever written: each pod reads
    its target's from the Secret (--secret), mounted as files (MIGRATOR_DSN_FILE); the
    output starts with the commands that make it and run the rollout, and each wave's
    label selector. A pod's exit 4, 5, 130 or 143 (locked, unreachable, stopped by a
    signal) is retried (the fleet's retry), 1, 2, 3 or 6 fails its target; docs/fleet-export.md
    says what maps and what does not (the ledger, bake's checks).

    The fleet is read as by every fleet command (its ${env:...} DSNs set: the same
    variables make the Secret). Exit 0 written; 2 bad usage, an invalid fleet file or
    plan, or a secret that a manifest would hold; 5 a targets query's database
    unreachable."""
    from migrator import api
    from migrator.fleet.export import ExportOptions

    chosen = ExportOptions(image, secret, namespace, out, pod_operator)
    return api.fleet_export(
        run_context(**options),
        fleet_file,
        plan,
        to,
        export_format,  # type: ignore[arg-type]
        chosen,
    )


def _context(**options: Any) -> Any:
    """The `api.Context` of a fleet command: prompts when there is a terminal."""
    return run_context(**options)
