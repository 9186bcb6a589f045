"""One run's evidence for a post-incident review (`migrator report RUN`).

`load_records` reads a run, its events and the runs linked to it from schema
`migrator` (reading only: a database without the schema has no runs). Everything
else is a pure function of those records: `report` builds the JSON-able document,
`markdown` renders it. The audit trail was masked when it was written (DSN passwords,
values read from `${env:...}`), so nothing here can reveal a secret the run did not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from migrator.state import (
    EventKind,
    EventRow,
    EventStatus,
    RunRow,
    RunStatus,
    events_of,
    get_run,
    runs_taking_back,
    schema_exists,
)
from migrator.views.durations import elapsed as _secs
from migrator.views.markdown import code as _code
from migrator.views.markdown import escape, fence


@dataclass(frozen=True)
class RunRecords:
    """What the database holds about one run."""

    run: RunRow
    events: list[EventRow]
    takes_back: RunRow | None  # the run this one took back (a rollback)
    taken_back_by: list[RunRow]  # later runs that took this one back


def load_records(conn: Connection, run_id: int) -> RunRecords | None:
    """The records of run `run_id`, or None when there is no such run."""
    if not schema_exists(conn):
        return None
    run = get_run(conn, run_id)
    if run is None:
        return None
    taken_back_by = runs_taking_back(conn, run_id)
    takes_back = get_run(conn, run.reverts) if run.reverts is not None else None
    return RunRecords(run, events_of(conn, [run_id]), takes_back, taken_back_by)


# -- the document ---------------------------------------------------------------------------


def report(records: RunRecords) -> dict[str, Any]:
    """The run's evidence: timeline, checks, approvals, steps, what was undone."""
    run = records.run
    events = records.events
    return {
        "run": {
            **{k: _plain(v) for k, v in run.as_dict().items()},
            "seconds": _seconds(run.started_at, run.finished_at),
        },
        "outcome": _outcome(run),
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
                "at": _plain(e.at),
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
                "at": _plain(e.at),
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
        "started_at": _plain(run.started_at),
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
        "samples": d.get("samples"),
        "seconds": d.get("seconds"),
        "describe": d.get("describe"),
        "at": _plain(e.at),
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
                "started_at": _plain(e.at),
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
        "at": _plain(e.at),
        "offset_seconds": round((e.at - started).total_seconds(), 3),
        "kind": e.kind,
        "status": e.status,
        "step": e.step,
        "summary": _summary(e),
    }


def _summary(e: EventRow) -> str:
    d = e.detail
    took = f" in {_secs(d['seconds'])}" if isinstance(d.get("seconds"), int | float) else ""
    if e.kind == EventKind.STATE:
        why = f": {d['reason']}" if d.get("reason") else ""
        return f"run {d.get('from', '?')} → {e.status}{why}"
    if e.kind == EventKind.CHECK:
        text = (
            f"{d.get('phase', '')}-check {e.step}: {e.status} "
            f"(actual {_shown(d.get('actual'))}, expected {_shown(d.get('expected'), quote=False)})"
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


# -- Markdown -------------------------------------------------------------------------------


def markdown(doc: dict[str, Any]) -> str:
    """The report as Markdown, for a post-incident review."""
    run = doc["run"]
    out: list[str] = []
    add = out.append
    add(f"# Run {run['id']}: {_md(run['plan'])}, {_md(run['transition'])}")
    add("")
    add(f"**Outcome:** {_md(doc['outcome'])}")
    add("")
    add(
        f"- **Transition:** {_code(run['transition'])}: {_code(run['from_phase'])} → "
        f"{_code(run['to_phase'])}"
    )
    add(f"- **Status:** {_code(run['status'])}")
    add(f"- **Operator:** {_md(run['operator'])} on {_md(run['host'])} (pid {run['pid']})")
    finished = run["finished_at"] or "not finished"
    add(
        f"- **Started:** {run['started_at']}; **finished:** {finished}"
        + (f" ({_secs(run['seconds'])})" if run["seconds"] is not None else "")
    )
    add(f"- **Plan checksum:** {_code(run['plan_checksum'])}")
    if run["error"]:
        add(f"- **Why it stopped:** {_md(run['error'])}")
    if doc["takes_back"]:
        t = doc["takes_back"]
        add(f"- **Takes back:** run {t['id']} ({_code(t['transition'])}, {t['status']})")
    for t in doc["taken_back_by"]:
        add(
            f"- **Taken back by:** run {t['id']} ({_code(t['transition'])} by "
            f"{_md(t['operator'])}, {t['status']})"
        )
    add("")
    _checks_md(doc["checks"], add)
    _approvals_md(doc["approvals"], add)
    _steps_md(doc["steps"], add)
    _undone_md(doc["undone"], add)
    add("## Timeline")
    add("")
    add("| at | + s | event |")
    add("| --- | ---: | --- |")
    for m in doc["timeline"]:
        add(f"| {m['at']} | {m['offset_seconds']:.3f} | {_cell(m['summary'])} |")
    return "\n".join(out).rstrip() + "\n"


def _checks_md(checks: list[dict[str, Any]], add: Any) -> None:
    add("## Checks: actual against expected")
    add("")
    if not checks:
        add("No check ran.")
        add("")
        return
    add("| when | check | result | actual | expected | samples | time | detail |")
    add("| --- | --- | --- | --- | --- | ---: | ---: | --- |")
    for c in checks:
        add(
            f"| {c['phase'] or ''} | {_cell(c['name'])} | **{c['status']}** "
            f"| {_tcode(_shown(c['actual']))} | {_tcode(_shown(c['expected'], quote=False))} "
            f"| {c['samples'] or ''} | {_secs(c['seconds'])} | {_cell(c['detail'] or '')} |"
        )
    add("")


def _approvals_md(approvals: list[dict[str, Any]], add: Any) -> None:
    add("## Approvals")
    add("")
    if not approvals:
        add("None asked for: the transition does not need approval (or stopped before the gate).")
        add("")
        return
    for a in approvals:
        how = f" via {_code(a['via'])}" if a["via"] else ""
        why = f": {_md(a['reason'])}" if a["reason"] else ""
        risk = f" (risk {a['risk']})" if a["risk"] else ""
        add(f"- **{a['status']}** by {_md(a['operator'] or '?')}{how} at {a['at']}{risk}{why}")
    add("")


def _steps_md(steps: list[dict[str, Any]], add: Any) -> None:
    add("## Steps")
    add("")
    if not steps:
        add("No step ran.")
        add("")
        return
    add("| step | action | result | attempts | time | note |")
    add("| --- | --- | --- | ---: | ---: | --- |")
    for s in steps:
        add(
            f"| {_cell(s['step'])} | {_tcode(s['action'] or '')} | **{s['status']}** "
            f"| {s['attempts']} | {_secs(s['seconds'])} | {_step_note(s)} |"
        )
    add("")
    for s in steps:
        if s["describe"]:
            add(f"**{_md(s['step'])}** ran:")
            add("")
            add(fence(s["describe"]))
            add("")


def _step_note(s: dict[str, Any]) -> str:
    """Why a step failed or was skipped; else what it returned (its memo), literally."""
    problem = s["error"] or s["reason"]
    if problem:
        return _cell(problem)
    return _tcode(_compact(s["memo"])) if s["memo"] else ""


def _undone_md(undone: list[dict[str, Any]], add: Any) -> None:
    add("## What was undone")
    add("")
    if not undone:
        add("Nothing: no step was undone in this run.")
        add("")
        return
    add("In the order it happened (last step first):")
    add("")
    for n, u in enumerate(undone, 1):
        problem = u["error"] or u["reason"]
        took = f" in {_secs(u['seconds'])}" if u["seconds"] is not None else ""
        add(
            f"{n}. {_md(u['step'])}: **{u['status']}**{took}"
            + (f": {_md(problem)}" if problem else "")
        )
    add("")
    for u in undone:
        if not u["describe"] or u["status"] != EventStatus.DONE:
            continue
        if u["describe"].startswith("default undo of "):  # a sentence, not code
            add(f"Undoing **{_md(u['step'])}**: {_md(u['describe'])}")
        else:
            add(f"Undoing **{_md(u['step'])}** ran:")
            add("")
            add(fence(u["describe"]))
        add("")


# -- small helpers --------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 3)


def _shown(value: Any, *, quote: bool = True) -> str:
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value) if quote else value
    return _compact(value)


def _compact(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _md(value: Any) -> str:
    return escape(value, one_line=True)


def _cell(value: Any) -> str:
    return escape(value, one_line=True)


def _tcode(value: Any) -> str:
    return _code(value, in_table=True)
