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
from migrator.views.values import visible


def stamp(at: Any) -> str:
    """A date and time to the minute with its zone: `2026-12-05 14:04+00:00`."""
    return at.isoformat(sep=" ", timespec="minutes") if isinstance(at, datetime) else "-"


def _run_cells(run: dict[str, Any] | None) -> tuple[str, str, str]:
    if run is None:
        return "-", "-", "-"
    return f"{run['id']} {run['transition']}", str(run["status"]), stamp(run["started_at"])


COLUMNS = ("target", "wave", "group", "phase", "last run", "status", "started", "ledger")
_DROPPED_FIRST = ("group", "wave", "started", "last run", "status")
"""The columns left out, in this order, when the table is wider than the terminal."""


def status_table(
    document: dict[str, Any], width: int | None = None, secrets: Secrets | None = None
) -> Any:
    """The targets as a rich table (the group column only when a target has a group), no
    padding at line ends. When its lines are wider than `width`, it leaves out the group,
    then the wave, then when the run started, until they fit; then long cells wrap. Every
    cell is plain text (never markup), its control characters made visible and masked."""
    from rich.console import Console
    from rich.measure import Measurement

    shown = _shown(secrets)
    columns = [c for c in COLUMNS if c != "group" or any(t["group"] for t in document["targets"])]
    table = _table(document, columns, shown)
    if width is None:
        return Unpadded(table)
    console = Console(width=10_000)  # the table's own width, unbounded
    for dropped in _DROPPED_FIRST:
        if Measurement.get(console, console.options, table).maximum <= width:
            break
        columns = [c for c in columns if c != dropped]
        table = _table(document, columns, shown)
    return Unpadded(table)


def _shown(secrets: Secrets | None) -> Any:
    """What a value read from a target, the ledger or a file becomes before it is printed:
    its text, control characters written `\\xNN`, secrets masked."""

    def shown(value: Any) -> str:
        text = visible(str(value))
        return text if secrets is None else secrets.mask(text)

    return shown


def _table(document: dict[str, Any], columns: list[str], shown: Any) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    for column in columns:
        if column == "target":  # a name may be long: it folds, the words of others never
            table.add_column(column, overflow="fold", ratio=1)
        elif column == "started":  # its date, then its time, each whole
            table.add_column(column, overflow="ellipsis", min_width=11)
        else:
            table.add_column(column, overflow="ellipsis", no_wrap=True)
    for t in document["targets"]:
        if not t["reachable"]:
            run, status, started = "-", "-", "-"
            phase = Text(not_read(t), style="red")
        else:
            run, status, started = _run_cells(t["last_run"])
            phase = Text(shown(t["phase"]))
        cells: dict[str, Any] = {
            "target": Text(shown(t["name"])),
            "wave": Text(shown(t["wave"])),
            "group": Text(shown(t["group"] or "-")),
            "phase": phase,
            "last run": Text(shown(run)),
            "status": Text(shown(status), style="red" if t["open_run"] else ""),
            "started": Text(started),  # the date, then its time (it wraps between them)
            "ledger": Text(shown(t["ledger_state"] or "-")),
        }
        table.add_row(*(cells[c] for c in columns))
    return table


def not_read(target: dict[str, Any]) -> str:
    """Why a target was not read, in a word: it refused the role, or it did not answer."""
    if target.get("in_fleet") is False:
        return "not in fleet file"
    error = str(target.get("error") or "")
    return "no permission" if "permission denied" in error else "unreachable"


def summary_lines(document: dict[str, Any]) -> list[str]:
    """How many targets are in each phase, which were not read, which have a run open."""
    targets = document["targets"]
    phases = Counter(t["phase"] for t in targets if t["reachable"])
    parts = [f"{n} in phase {phase}" for phase, n in sorted(phases.items())]
    unreachable = [t for t in targets if not t["reachable"]]
    for label, n in sorted(Counter(not_read(t) for t in unreachable).items()):
        parts.append(f"{n} {label}")
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
    """The table, then the summary, on `out`. The document is read as it is (a secret
    that happens to be a key word, `phase`, masks nothing it needs); what is printed is
    masked, its control characters made visible, and never taken as rich markup."""
    from rich.console import Console
    from rich.text import Text

    from migrator.views.console import wrapped

    shown = _shown(secrets)
    console = Console(file=out, highlight=False)
    heading = (
        f"fleet {document['fleet']}, plan {document['plan']}: {len(document['targets'])} targets"
    )
    console.print(Text(shown(heading), style="bold"))
    table = status_table(document, console.width, secrets)
    console.print(table, soft_wrap=False)
    for line in summary_lines(document):
        text = wrapped(shown(line), console.width, "", "  ")
        console.print(Text(text.rstrip("\n")), soft_wrap=True)
