"""The audit trail of a plan as people and scripts read it: `migrator history`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from migrator import state
from migrator.plan import Plan
from migrator.views.console import Reporter, Unpadded
from migrator.views.differences import difference_lines, named_part
from migrator.views.durations import elapsed
from migrator.views.values import shown, visible


def plan_history(db: Engine, plan: Plan, verify: bool = False) -> dict[str, Any]:
    """Every run of the plan with its events; `verify`: with the verdict on each run's
    trail too (`trail`: chained or not, intact or not, every broken link)."""
    with db.connect() as conn:
        runs = list(reversed(state.runs_of(conn, plan.name)))
        events = state.events_of(conn, [r.id for r in runs])
        trails = state.verify_runs(conn, [r.id for r in runs]) if verify else {}
    by_run: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        by_run.setdefault(e.run_id, []).append(e.as_dict())
    document: dict[str, Any] = {
        "plan": plan.name,
        "runs": [
            {
                **r.as_dict(),
                "events": by_run.get(r.id, []),
                **({"trail": trails[r.id].as_dict()} if r.id in trails else {}),
            }
            for r in runs
        ],
    }
    if verify:
        document["intact"] = all(t.intact for t in trails.values())
    return document


def render_history(doc: dict[str, Any], reporter: Reporter) -> None:
    """Each run: a heading (who, where, when with its time zone, how long), then a table
    of its events, each check with its actual and expected values and its differences
    (values as values, cut to fit; the whole of them in `--output json`)."""
    say = reporter.say
    if not doc["runs"]:
        say(f"plan {doc['plan']} has no runs yet")
        return
    for run in doc["runs"]:
        say(
            f"run {run['id']}: {run['transition']} ({run['from_phase']} -> {run['to_phase']}) "
            f"{run['status']} — {run['operator']}@{run['host']} pid {run['pid']}",
            style="bold",
        )
        say(f"  {_when(run)}")
        if run["events"]:
            reporter.console.print(Unpadded(_events_table(run, reporter)))
        if "trail" in run:
            _render_trail(run["id"], run["trail"], reporter)
    if "intact" in doc:
        intact = doc["intact"]
        say(
            "every trail shown is intact" if intact else "the audit trail was edited",
            style="green" if intact else "red",
        )


def _when(run: dict[str, Any]) -> str:
    started, finished = run.get("started_at"), run.get("finished_at")
    text = f"started {_stamp(started)}"
    if isinstance(started, datetime) and isinstance(finished, datetime):
        text += f", ended {_stamp(finished)}, took {elapsed((finished - started).total_seconds())}"
    return text


def _stamp(at: Any) -> str:
    """A date and time with its zone: `2026-12-05 14:04:37+00:00`."""
    return at.isoformat(sep=" ", timespec="seconds") if isinstance(at, datetime) else str(at)


def _events_table(run: dict[str, Any], reporter: Reporter) -> Any:
    from rich import box
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    mask = reporter.secrets.mask
    width = reporter.console.width
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    table.add_column("at", no_wrap=True)
    table.add_column("event: its step, and what it says", overflow="fold")
    day = run["started_at"].date() if isinstance(run.get("started_at"), datetime) else None
    times = [
        f"{at:%H:%M:%S.%f}"[:-3] if isinstance(at, datetime) and at.date() == day else _stamp(at)
        for at in (e["at"] for e in run["events"])
    ]  # the time of day; the date and zone too when it is not the run's first day
    room = max(30, width - max(map(len, times)) - 3)  # what is left of a line after it
    for e, shown_at in zip(run["events"], times, strict=True):
        status = e["status"]
        style = "red" if status in ("failed", "undo_failed", "declined") else ""
        cell = Text(f"{e['kind']} {status}", style=style)
        if e["step"]:
            cell.append("  ")
            cell.append(visible(mask(e["step"])), style="bold")
        what = visible(mask(_what(e, room - 2)), lines=True)
        said = Padding(Text(what, style=style), (0, 0, 0, 2)) if what else None
        table.add_row(shown_at, Group(cell, said) if said else cell)
    return table


def _what(event: dict[str, Any], room: int) -> str:
    """What an event says beyond its kind and status: a check's values and differences
    (cut to `room` characters a line), a step's error or reason, how long it took."""
    detail = event["detail"] or {}
    parts = []
    if event["kind"] == "check" and "expected" in detail:
        expected = detail["expected"]
        actual = named_part(detail.get("actual"), expected)
        values = [shown(actual), shown(expected)]
        if sum(map(len, values)) > room - 20:  # the rest of the line, and its duration
            values = [shown(v, max(12, (room - 20) // 2)) for v in (actual, expected)]
        parts.append(f"actual {values[0]}, expected {values[1]}")
    for key in ("error", "reason", "via", "detail", "message"):
        value = detail.get(key)
        if value not in (None, ""):
            parts.append(shown(value) if key in ("detail", "message") else f"{key}: {shown(value)}")
    if detail.get("blockers"):
        parts.append("blocked by " + "; ".join(shown(b) for b in detail["blockers"]))
    took = elapsed(detail.get("seconds"))
    if took:
        parts = [f"{parts[0]} ({took})", *parts[1:]] if parts else [took]
    differences = detail.get("differences") or ()
    lines = parts + difference_lines(differences, room)
    return "\n".join(line for line in lines if line)


def _render_trail(run_id: int, trail: dict[str, Any], reporter: Reporter) -> None:
    """The verdict on one run's trail (`history --verify`), and each broken link."""
    if not trail["chained"] and trail["intact"]:
        reporter.say(f"  trail of run {run_id}: unchained (written before the chain began)")
    elif trail["intact"]:
        reporter.say(
            f"  trail of run {run_id}: intact ({trail['events']} events, head {trail['head']})",
            style="green",
        )
    else:
        count = len(trail["breaks"])
        reporter.say(
            f"  trail of run {run_id}: BROKEN, {count} broken link{'s' if count > 1 else ''}",
            style="red",
        )
        for b in trail["breaks"]:
            where = f"event {b['event_id']}" if b["event_id"] is not None else "at its end"
            reporter.say(f"    {where}: {b['problem']}", style="red")
