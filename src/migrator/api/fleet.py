"""The fleet commands: one plan on every target of a fleet file (SPEC.md, "Fleets").

Each opens the fleet (`migrator.fleet.session.open_fleet`: the fleet file, the plan, the
targets, the ledger) and hands it to the module of its command in `migrator.fleet`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from migrator.api.context import Context
from migrator.errors import ExitCode

if TYPE_CHECKING:
    from migrator.fleet.export import ExportOptions

ExportFormat = Literal["k8s", "argo"]


def fleet_apply(
    ctx: Context, fleet_path: str | Path, plan_path: str | Path, to: str | None
) -> ExitCode:
    """Move the plan to phase `to` on every target of the fleet, wave by wave."""
    from migrator.fleet.apply import apply_fleet
    from migrator.fleet.session import open_fleet

    return apply_fleet(open_fleet(ctx, fleet_path, plan_path, to), to)


def fleet_status(ctx: Context, fleet_path: str | Path, plan_path: str | Path) -> ExitCode:
    """Each target's phase and last run, read from the target itself."""
    from migrator.fleet.session import open_fleet
    from migrator.fleet.status import fleet_status as status

    return status(open_fleet(ctx, fleet_path, plan_path))


def fleet_rollback(ctx: Context, fleet_path: str | Path, plan_path: str | Path) -> ExitCode:
    """Take back the transition on exactly the targets the fleet's last apply moved."""
    from migrator.fleet.rollback import rollback_fleet
    from migrator.fleet.session import open_fleet

    return rollback_fleet(open_fleet(ctx, fleet_path, plan_path))


def fleet_plan(
    ctx: Context,
    fleet_path: str | Path,
    plan_path: str | Path,
    to: str | None,
    timeout: float | None = None,
) -> ExitCode:
    """The dry run (`migrator plan`) of every target, each within `timeout` seconds
    (default: the fleet's `timeout`, at least 60 s)."""
    from migrator.fleet.dryrun import plan_fleet
    from migrator.fleet.session import open_fleet

    return plan_fleet(open_fleet(ctx, fleet_path, plan_path, to), to, timeout)


def fleet_export(
    ctx: Context,
    fleet_path: str | Path,
    plan_path: str | Path,
    to: str | None,
    export_format: ExportFormat,
    options: ExportOptions | None = None,
) -> ExitCode:
    """The rollout as manifests for a scheduler: Kubernetes Indexed Jobs or an Argo
    Workflow, each pod one `migrator apply` of one target (`options`: the image, the
    Secret's name, the namespace, a folder to write into)."""
    from migrator.fleet.export import export_fleet
    from migrator.fleet.session import open_fleet

    session = open_fleet(ctx, fleet_path, plan_path, to)
    return export_fleet(session, to, export_format, options)
