"""`migrator fleet status` for a person: a table of the targets that fits the terminal (each
target's wave, group, phase, last run and what the ledger's latest rollout did to it), then
a summary: how many are in each phase, which could not be read, and which have a run left
open, with the command that settles it (run on that target: its DSN is never printed)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, TextIO

from migrator.masking import Secrets
from migrator.views.console import Unpadded


def stamp(at: Any) -> str:
    """A date and time to the minute with its zone: `2026-12-05 14:04+00:00`."""
    return at.isoformat(sep=" ", timespec="minutes") if isinstance(at, datetime) else "-"


def _run_cells(run: dict[str, Any] | None) -> tuple[str, str, str]:
    if run is None:
        return "-", "-", "-"
    return f"{run['id']} {run['transition']}", str(run["status"]), stamp(run["started_at"])


COLUMNS = ("target", "wave", "group", "phase", "last run", "status", "started", "ledger")
_DROPPED_FIRST = ("group", "wave", "started")
"""The columns left out, in this order, when the table is wider than the terminal."""


def status_table(document: dict[str, Any], width: int | None = None) -> Any:
    """The targets as a rich table (the group column only when a target has a group), no
    padding at line ends. When its lines are wider than `width`, it leaves out the group,
    then the wave, then when the run started, until they fit; then long cells wrap."""
    from rich.console import Console
    from rich.measure import Measurement

    columns = [c for c in COLUMNS if c != "group" or any(t["group"] for t in document["targets"])]
    table = _table(document, columns)
    if width is None:
        return Unpadded(table)
    console = Console(width=10_000)  # the table's own width, unbounded
    for dropped in _DROPPED_FIRST:
        if Measurement.get(console, console.options, table).maximum <= width:
            break
        columns = [c for c in columns if c != dropped]
        table = _table(document, columns)
    return Unpadded(table)


def _table(document: dict[str, Any], columns: list[str]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold", min_width=11 if column == "started" else None)
    for t in document["targets"]:
        if not t["reachable"]:
            run, status, started = "-", "-", "-"
            phase = Text("unreachable", style="red")
        else:
            run, status, started = _run_cells(t["last_run"])
            phase = Text(str(t["phase"]))
        cells: dict[str, Any] = {
            "target": t["name"],
            "wave": t["wave"],
            "group": t["group"] or "-",
            "phase": phase,
            "last run": run,
            "status": Text(status, style="red" if t["open_run"] else ""),
            "started": started,  # the date, then its time (it wraps between them)
            "ledger": t["ledger_state"] or "-",
        }
        table.add_row(*(cells[c] for c in columns))
    return table


def summary_lines(document: dict[str, Any]) -> list[str]:
    """How many targets are in each phase, which were not read, which have a run open."""
    targets = document["targets"]
    phases = Counter(t["phase"] for t in targets if t["reachable"])
    parts = [f"{n} in phase {phase}" for phase, n in sorted(phases.items())]
    unreachable = [t for t in targets if not t["reachable"]]
    if unreachable:
        parts.append(f"{len(unreachable)} unreachable")
    lines = [", ".join(parts) if parts else "no targets"]
    for t in unreachable:
        lines.append(f"target {t['name']} could not be read: {t['error']}")
    plan_file = document["plan_file"]
    for t in targets:
        run = t["open_run"]
        if run is None:
            continue
        lines.append(
            f"target {t['name']}: run {run['id']} ({run['transition']}) is {run['status']}; "
            f"`migrator resume {plan_file}` on target {t['name']} finishes it, "
            f"`migrator rollback {plan_file}` takes it back (if no process runs it now)"
        )
    rollout = document["rollout"]
    if document.get("ledger_error"):
        lines.append(f"the ledger could not be read: {document['ledger_error']}")
    elif rollout is None:
        lines.append(f"the ledger ({document['ledger']}) has no rollout of this plan")
    else:
        lines.append(
            f"latest rollout {rollout['id']} to {rollout['to']}: {rollout['status']}, "
            f"by {rollout['operator']} on {rollout['host']}, started "
            f"{stamp(datetime.fromisoformat(rollout['started_at']))}"
        )
    return lines


def render_fleet_status(document: dict[str, Any], out: TextIO, secrets: Secrets) -> None:
    """The table, then the summary, on `out` (masked)."""
    from rich.console import Console
    from rich.markup import escape

    from migrator.views.console import wrapped

    console = Console(file=out, highlight=False)
    console.print(
        f"fleet {escape(document['fleet'])}, plan {escape(document['plan'])}: "
        f"{len(document['targets'])} targets",
        style="bold",
    )
    table = status_table(secrets.mask_data(document), console.width)
    console.print(table, soft_wrap=False)
    for line in summary_lines(document):
        text = wrapped(secrets.mask(line), console.width, "", "  ")
        console.print(escape(text.rstrip("\n")), soft_wrap=True)
