"""One run's evidence for a post-incident review (`migrator report RUN`).

`load_records` reads a run, its events, the runs linked to it and the plan's other
runs (for its phase diagram) from schema `migrator` (reading only: a database without
the schema has no runs). Everything else is a pure function of those records: `report`
builds the JSON-able document, failures first; `migrator.views.report_markdown`
renders it as Markdown, `migrator.views.report_html` as a standalone page. The audit
trail was masked when it was written (DSN passwords, values read from `${env:...}`), so
nothing here can reveal a secret the run did not.

A run does not record its plan file (only the plan's name and checksum), so the phase
diagram is drawn from what this database recorded: the phases and transitions of the
plan's runs, the plan's phase now, and this run's transition. A transition never run
here is not in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from migrator.state import (
    EventKind,
    EventRow,
    EventStatus,
    RunRow,
    RunStatus,
    current_phase,
    events_of,
    get_run,
    runs_of,
    runs_taking_back,
    schema_exists,
)
from migrator.views.durations import elapsed as _secs
from migrator.views.values import plain, shown


@dataclass(frozen=True)
class RunRecords:
    """What the database holds about one run."""

    run: RunRow
    events: list[EventRow]
    takes_back: RunRow | None  # the run this one took back (a rollback)
    taken_back_by: list[RunRow]  # later runs that took this one back
    plan_runs: list[RunRow] = field(default_factory=list)  # the plan's runs, newest first
    phase: str | None = None  # the phase the plan is in now


def load_records(conn: Connection, run_id: int) -> RunRecords | None:
    """The records of run `run_id`, or None when there is no such run."""
    if not schema_exists(conn):
        return None
    run = get_run(conn, run_id)
    if run is None:
        return None
    taken_back_by = runs_taking_back(conn, run_id)
    takes_back = get_run(conn, run.reverts) if run.reverts is not None else None
    plan_runs = runs_of(conn, run.plan)
    phase = current_phase(conn, run.plan, plan_runs[-1].from_phase)
    return RunRecords(run, events_of(conn, [run_id]), takes_back, taken_back_by, plan_runs, phase)


# -- the document ---------------------------------------------------------------------------


def report(records: RunRecords) -> dict[str, Any]:
    """The run's evidence: what failed, what was undone, the phases, the checks,
    approvals, steps and timeline."""
    run = records.run
    events = records.events
    return {
        "run": {
            **{k: plain(v) for k, v in run.as_dict().items()},
            "seconds": _seconds(run.started_at, run.finished_at),
        },
        "outcome": _outcome(run),
        "failures": _failures(events),
        "phases": _phases(records),
        "takes_back": _brief(records.takes_back),
        "taken_back_by": [_brief(r) for r in records.taken_back_by],
        "timeline": [_moment(e, run.started_at) for e in events],
        "checks": [_check(e) for e in events if e.kind == EventKind.CHECK],
        "approvals": [
            {
                "status": e.status,
                "operator": e.detail.get("operator"),
                "via": e.detail.get("via"),
                "reason": e.detail.get("reason"),
                "risk": e.detail.get("risk"),
                "at": plain(e.at),
            }
            for e in events
            if e.kind == EventKind.APPROVAL
        ],
        "steps": _steps(events),
        "undone": [
            {
                "step": e.step,
                "status": e.status,
                "action": e.detail.get("action"),
                "seconds": e.detail.get("seconds"),
                "describe": e.detail.get("describe"),
                "reason": e.detail.get("reason"),
                "error": e.detail.get("error"),
                "at": plain(e.at),
            }
            for e in events
            if e.kind == EventKind.UNDO
        ],
    }


_OUTCOMES: dict[str, str] = {
    RunStatus.SUCCEEDED: "succeeded: the plan moved to {to}",
    RunStatus.FAILED: "failed before any step ran: nothing was applied; the plan stayed in {frm}",
    RunStatus.UNDONE: "undone: what the run did was taken back; the plan stayed in {frm}",
    RunStatus.UNDO_FAILED: "undo failed: manual intervention needed; the plan is blocked until "
    "`migrator resume` or `migrator rollback` settles it",
}


def _outcome(run: RunRow) -> str:
    template = _OUTCOMES.get(run.status, "not finished: {status} (running, or interrupted)")
    return template.format(to=run.to_phase, frm=run.from_phase, status=run.status)


def _brief(run: RunRow | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "transition": run.transition,
        "status": run.status,
        "operator": run.operator,
        "started_at": plain(run.started_at),
    }


def _check(e: EventRow) -> dict[str, Any]:
    d = e.detail
    return {
        "phase": d.get("phase"),
        "name": e.step,
        "check": d.get("check"),
        "status": e.status,
        "actual": d.get("actual"),
        "expected": d.get("expected"),
        "detail": d.get("detail") or None,
        "differences": d.get("differences"),
        "samples": d.get("samples"),
        "seconds": d.get("seconds"),
        "describe": d.get("describe"),
        "at": plain(e.at),
    }


def _failures(events: list[EventRow]) -> list[dict[str, Any]]:
    """What went wrong in the run, in the order it happened: checks that failed (or
    warned), an approval declined, steps and undos that failed (or a step a rollback
    left not undone), with what a person needs to see why."""
    found: list[dict[str, Any]] = []
    for e in events:
        d = e.detail
        if e.kind == EventKind.CHECK and e.status in (EventStatus.FAILED, EventStatus.WARNED):
            found.append({"kind": "check", **_check(e)})
        elif e.kind == EventKind.APPROVAL and e.status == EventStatus.DECLINED:
            found.append(
                {
                    "kind": "approval",
                    "name": "approval",
                    "status": e.status,
                    "error": d.get("reason") or f"declined by {d.get('operator', '?')}",
                    "at": plain(e.at),
                }
            )
        elif e.kind in (EventKind.STEP, EventKind.UNDO) and e.status in (
            EventStatus.FAILED,
            EventStatus.NOT_UNDONE,
        ):
            found.append(
                {
                    "kind": "undo" if e.kind == EventKind.UNDO else "step",
                    "name": e.step,
                    "action": d.get("action"),
                    "status": e.status,
                    "error": d.get("error") or d.get("reason"),
                    "at": plain(e.at),
                }
            )
    return found


def _phases(records: RunRecords) -> dict[str, Any] | None:
    """The plan's phases and transitions as this database's runs of it went (oldest
    first), its phase now and this run's transition: what the diagram draws."""
    runs = list(reversed(records.plan_runs)) or [records.run]
    phases = list(dict.fromkeys(p for r in runs for p in (r.from_phase, r.to_phase)))
    seen = dict.fromkeys((r.transition, r.from_phase, r.to_phase) for r in runs)
    return {
        "initial": runs[0].from_phase,
        "phases": phases,
        "transitions": [{"name": n, "from": f, "to": t} for n, f, t in seen],
        "current": records.phase,
        "run_transition": records.run.transition,
    }


def _steps(events: list[EventRow]) -> list[dict[str, Any]]:
    """One entry per step, in the order the steps began, with how each ended."""
    steps: dict[Any, dict[str, Any]] = {}
    for e in events:
        if e.kind != EventKind.STEP:
            continue
        key = e.detail.get("index", e.step)
        entry = steps.setdefault(
            key,
            {
                "step": e.step,
                "action": e.detail.get("action"),
                "status": e.status,
                "attempts": 1,
                "seconds": None,
                "describe": None,
                "memo": None,
                "error": None,
                "reason": None,
                "started_at": plain(e.at),
            },
        )
        d = e.detail
        if e.status == EventStatus.RETRY and d.get("part"):
            entry["part_retries"] = entry.get("part_retries", 0) + 1  # a batch, not the step
        elif e.status == EventStatus.RETRY:
            entry["attempts"] = int(d.get("attempt", 0)) + 1
            entry["error"] = d.get("error")
        elif e.status != EventStatus.STARTED:
            entry["status"] = e.status
            for field in ("seconds", "describe", "memo", "error", "reason"):
                if d.get(field) is not None:
                    entry[field] = d[field]
            if d.get("attempts"):
                entry["attempts"] = d["attempts"]
    return list(steps.values())


def _moment(e: EventRow, started: datetime) -> dict[str, Any]:
    return {
        "at": plain(e.at),
        "offset_seconds": round((e.at - started).total_seconds(), 3),
        "kind": e.kind,
        "status": e.status,
        "step": e.step,
        "summary": _summary(e),
    }


def _summary(e: EventRow) -> str:
    """The event on one line, whole (a view cuts it to the room it has)."""
    d = e.detail
    took = f" in {_secs(d['seconds'])}" if isinstance(d.get("seconds"), int | float) else ""
    if e.kind == EventKind.STATE:
        why = f": {d['reason']}" if d.get("reason") else ""
        return f"run {d.get('from', '?')} → {e.status}{why}"
    if e.kind == EventKind.CHECK:
        text = (
            f"{d.get('phase', '')}-check {e.step}: {e.status} "
            f"(actual {shown(d.get('actual'))}, expected {shown(d.get('expected'))})"
        )
        return text + (f": {d['detail']}" if d.get("detail") else "") + took
    if e.kind == EventKind.APPROVAL:
        how = f" via {d['via']}" if d.get("via") else ""
        why = f": {d['reason']}" if d.get("reason") else ""
        return f"approval {e.status} by {d.get('operator', '?')}{how}{why}"
    if e.kind in (EventKind.STEP, EventKind.UNDO):
        verb = "undo of " if e.kind == EventKind.UNDO else ""
        text = f"{verb}{e.step} ({d.get('action', '')}): {e.status}"
        if e.status == EventStatus.RETRY:
            text += f" of {d['part']}" if d.get("part") else ""
            text += f" after attempt {d.get('attempt')}"
            if isinstance(d.get("pause"), int | float):
                text += f", again in {d['pause']:g}s"
        problem = d.get("error") or d.get("reason")
        return text + took + (f": {problem}" if problem else "")
    extra = d.get("detail") or d.get("message") or ""
    return f"{e.kind} {e.status}" + (f": {extra}" if extra else "")


# -- small helpers --------------------------------------------------------------------------


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)
