"""`migrator fleet apply | status | rollback | plan | export`: one plan, many databases."""

from __future__ import annotations

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
    none starts after). `bake` looks at the post-checks of the wave's moved targets
    again for that long, read only: one that fails stops the rollout, undoing
    nothing. A wave with `approval` is asked on a terminal; without one it needs
    --yes. The plan's own approval gates: --yes approves them on every target; on a
    terminal you are asked once for the whole rollout; else each target declines.

    Resume: run it again. The ledger continues the plan's last rollout to PHASE:
    targets moved are skipped, an interrupted target's run is resumed by its own
    apply. Ctrl-C or SIGTERM: no target starts, the stop is passed on to the
    targets under way (again: they stop at once). A SIGKILL leaves the targets'
    processes to finish alone; the ledger says which were running.

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
    """Each target's phase and last run, read from the target itself."""
    from migrator import api

    return api.fleet_status(_context(**options), fleet_file, plan)


# -- fleet rollback -----------------------------------------------------------------------


@fleet.command("rollback")
@FLEET_ARG
@PLAN_ARG
@YES
@OPERATOR
@output_option
@LOG_FORMAT
def fleet_rollback(fleet_file: str, plan: str, **options: Any) -> int:
    """Take the transition back on exactly the targets the last `fleet apply` moved."""
    from migrator import api

    return api.fleet_rollback(_context(**options), fleet_file, plan)


# -- fleet plan ---------------------------------------------------------------------------


@fleet.command("plan")
@FLEET_ARG
@PLAN_ARG
@TO
@VAR
@output_option
def fleet_plan(fleet_file: str, plan: str, to: str | None, **options: Any) -> int:
    """The dry run of every target: what `migrator plan` shows for each."""
    from migrator import api

    return api.fleet_plan(_context(**options), fleet_file, plan, to)


# -- fleet export -------------------------------------------------------------------------


@fleet.command("export")
@FLEET_ARG
@PLAN_ARG
@TO
@click.option("--format", "export_format", type=click.Choice(["k8s", "argo"]), required=True)
def fleet_export(
    fleet_file: str, plan: str, to: str | None, export_format: str, **options: Any
) -> int:
    """The rollout as manifests for a scheduler, each pod one `migrator apply`."""
    from migrator import api

    return api.fleet_export(_context(**options), fleet_file, plan, to, export_format)  # type: ignore[arg-type]


def _context(**options: Any) -> Any:
    """The `api.Context` of a fleet command: prompts when there is a terminal."""
    return run_context(**options)
