"""A fleet opened for one command: its file, the plan, the targets, the secrets to mask,
the ledger, and the `migrator` command line each target's process is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migrator.api.context import Context
from migrator.errors import UsageError
from migrator.fleet.child import Child, EventSink, LineSink
from migrator.fleet.ledger import LedgerStore, open_ledger
from migrator.fleet.model import Fleet, WaveSpec, load_fleet
from migrator.fleet.reading import TargetReading, read_target
from migrator.fleet.targets import FleetTarget, in_waves, read_dsn, resolve_targets
from migrator.masking import Secrets
from migrator.plan.model import Plan


@dataclass
class FleetSession:
    ctx: Context
    fleet: Fleet
    plan: Plan
    plan_file: Path
    targets: list[FleetTarget]
    secrets: Secrets
    ledger: LedgerStore

    def waves(self) -> list[tuple[WaveSpec, list[FleetTarget]]]:
        """The fleet's waves in order, each with its targets."""
        return in_waves(self.fleet, self.targets)

    def read(self, target: FleetTarget) -> TargetReading:
        """The plan's state on `target`, read only, within the fleet's `timeout`."""
        plan = self.plan
        return read_target(
            target, plan.name, plan.initial_phase, self.fleet.spec.timeout, self.secrets
        )

    def command(self, target: FleetTarget, *args: str, variables: bool = True) -> list[str]:
        """`migrator ARGS... PLAN`'s arguments for `target`: the plan file, then `args`, the
        target's vars and the command line's `--var`s (these win).
        Never the DSN: that goes in the process's environment (`Child`)."""
        line = [args[0], str(self.plan_file), *args[1:]]
        if variables:
            merged = {**target.vars, **self.ctx.variables}
            for name, value in merged.items():
                line += ["--var", f"{name}={value}"]
        return line

    def child(
        self,
        target: FleetTarget,
        args: list[str],
        *,
        on_event: EventSink | None = None,
        on_line: LineSink | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> Child:
        """The process of one `migrator` command for `target` (not started yet); `on_start`
        is given its pid as soon as it runs (to record before it can make a run)."""
        return Child(
            args, target.dsn, self.secrets, on_event=on_event, on_line=on_line, on_start=on_start
        )


def open_fleet(
    ctx: Context, fleet_path: str | Path, plan_path: str | Path, to: str | None = None
) -> FleetSession:
    """Load the fleet file and the plan (exit 2 with every problem of either), check that
    `to` is one of the plan's phases, resolve the targets (a query reads its control
    database: exit 5 if it cannot be reached) and find the ledger."""
    from migrator.plan import load_plan

    fleet = load_fleet(fleet_path)
    plan = load_plan(plan_path, ctx.plugins())
    if to is not None and to not in plan.phases:
        raise UsageError(
            f"plan {plan.name} has no phase '{to}' (its phases: {', '.join(plan.phases)})"
        )
    secrets = Secrets()
    targets = resolve_targets(fleet, secrets)
    ledger_dsn = None
    if fleet.spec.ledger is not None:
        ledger_dsn = read_dsn(fleet, fleet.spec.ledger, secrets, "the ledger")
    return FleetSession(
        ctx, fleet, plan, Path(plan_path), targets, secrets, open_ledger(fleet, ledger_dsn)
    )
