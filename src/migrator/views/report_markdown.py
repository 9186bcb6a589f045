"""A run's report (`migrator.views.report.report`) as Markdown, failures first: what
went wrong and what was undone, then the checks, approvals, steps and the timeline.

Values are shown as values (`migrator.views.values.shown`: no Python reprs), the audit
trail's text escaped. On a terminal `migrator report` renders it with rich; the HTML
page (`migrator.views.report_html`) is made from it too, with the phase diagram where
`markdown(..., diagram=True)` leaves its block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrator.state import EventStatus
from migrator.views.differences import difference_lines
from migrator.views.durations import elapsed as _secs
from migrator.views.markdown import code as _code
from migrator.views.markdown import escape, fence
from migrator.views.values import cut, shown

VALUE_WIDTH = 200  # a value in a table or a line; all of it is in --output json
SUMMARY_WIDTH = 300  # a line of the timeline; all of it is in --output json
DIFFERENCE_VALUE_WIDTH = 60  # a value in a line of a check's differences
DIFFERENCES_SHOWN = 10


def markdown(doc: dict[str, Any], *, diagram: bool = False) -> str:
    """The report as Markdown, for a post-incident review; `diagram`: with a block
    (```phase-diagram) where a page draws the plan's phases."""
    run = doc["run"]
    out: list[str] = []
    add = out.append
    add(f"# Run {run['id']}: {_md(run['plan'])}, {_md(run['transition'])}")
    add("")
    add(f"**Outcome:** {_md(doc['outcome'])}")
    add("")
    if run["error"]:
        add(f"**Why it stopped:** {_md(run['error'])}")
        add("")
    _failures_md(doc.get("failures") or [], add)
    _undone_md(doc["undone"], add)
    add("## The run")
    add("")
    add(
        f"- **Transition:** {_code(run['transition'])}: {_code(run['from_phase'])} → "
        f"{_code(run['to_phase'])}"
    )
    add(f"- **Status:** {_code(run['status'])}")
    add(f"- **Operator:** {_md(run['operator'])} on {_md(run['host'])} (pid {run['pid']})")
    finished = run["finished_at"] or "not finished"
    add(
        f"- **Started:** {_at(run['started_at'])}; **finished:** {_at(finished)}"
        + (f" ({_secs(run['seconds'])})" if run["seconds"] is not None else "")
    )
    add(f"- **Plan checksum:** {_code(run['plan_checksum'])}")
    if doc["takes_back"]:
        t = doc["takes_back"]
        add(f"- **Takes back:** run {t['id']} ({_code(t['transition'])}, {t['status']})")
    for t in doc["taken_back_by"]:
        add(
            f"- **Taken back by:** run {t['id']} ({_code(t['transition'])} by "
            f"{_md(t['operator'])}, {t['status']})"
        )
    add("")
    if diagram and doc.get("phases"):
        _phases_md(doc["phases"], add)
    _checks_md(doc["checks"], add)
    _approvals_md(doc["approvals"], add)
    _steps_md(doc["steps"], add)
    add("## Timeline")
    add("")
    add("| at | + s | event |")
    add("| --- | ---: | --- |")
    for m in doc["timeline"]:
        summary = cut(m["summary"], SUMMARY_WIDTH)
        add(f"| {_at(m['at'])} | {m['offset_seconds']:.3f} | {_cell(summary)} |")
    return "\n".join(out).rstrip() + "\n"


def _failures_md(failures: list[dict[str, Any]], add: Any) -> None:
    if not failures:
        return
    add("## What failed")
    add("")
    for n, f in enumerate(failures, 1):
        if f["kind"] == "check":
            head = f"{f['phase'] or ''}-check {_md(f['name'])}: **{f['status']}**"
            actual = _named_first(f["actual"], f["expected"])
            add(
                f"{n}. {head}: actual {_code(_value(actual))}, "
                f"expected {_code(_value(f['expected']))}"
            )
            details = [line for line in str(f["detail"] or "").splitlines() if line.strip()]
            for line in details:
                add(f"   - {_md(line)}")
            _differences_md(f.get("differences"), add)
        else:
            status = "not undone" if f["status"] == EventStatus.NOT_UNDONE else f["status"]
            error = f": {_md(f['error'])}" if f.get("error") else ""
            if f["kind"] == "approval":
                add(f"{n}. approval: **{status}**{error}")
                continue
            what = "undo of " if f["kind"] == "undo" else "step "
            action = f" ({_code(f['action'])})" if f.get("action") else ""
            add(f"{n}. {what}{_md(f['name'])}{action}: **{status}**{error}")
    add("")


def _differences_md(differences: Any, add: Any) -> None:
    """A check's differences as data, a line each (`session_id 7: confidence 0.724 vs
    0.362`), the first DIFFERENCES_SHOWN of them."""
    if not isinstance(differences, list):
        return
    lines = difference_lines(differences[:DIFFERENCES_SHOWN], value_width=DIFFERENCE_VALUE_WIDTH)
    for line in lines:
        add(f"   - {_md(line)}")
    if len(differences) > DIFFERENCES_SHOWN:
        add(f"   - and {len(differences) - DIFFERENCES_SHOWN} more (all in `--output json`)")


def _named_first(actual: Any, expected: Any) -> Any:
    """Of a mapping expected of a mapping (an HTTP answer's fields), the keys the
    expectation names first (what a cut value would lose last), then the others."""
    if not (isinstance(actual, Mapping) and isinstance(expected, Mapping)):
        return actual
    named = {k: _named_first(actual[k], expected[k]) for k in expected if k in actual}
    return {**named, **{k: v for k, v in actual.items() if k not in named}}


def _phases_md(phases: dict[str, Any], add: Any) -> None:
    add("## Phases")
    add("")
    add(
        "The plan's phases and transitions as this database's runs of it went (a "
        "transition never run here is not drawn); the phase it is in now is highlighted."
    )
    add("")
    add(fence("", "phase-diagram"))
    add("")


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
            f"| {_tcode(_value(_named_first(c['actual'], c['expected'])))} "
            f"| {_tcode(_value(c['expected']))} "
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
        who = _md(a["operator"] or "?")
        add(f"- **{a['status']}** by {who}{how} at {_at(a['at'])}{risk}{why}")
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
    """Why a step failed or was skipped; else what it returned (its memo), as a value."""
    problem = s["error"] or s["reason"]
    if problem:
        return _cell(problem)
    return _tcode(_value(s["memo"])) if s["memo"] else ""


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


def _at(moment: Any) -> str:
    """A time as people read it, to the millisecond, with its zone:
    `2026-12-05 14:07:53.797 +00:00` (the ISO 8601 text in --output json)."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(str(moment))
    except ValueError:
        return str(moment)
    zone = when.strftime("%z")
    zone = f" {zone[:3]}:{zone[3:]}" if zone else ""
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}{zone}"


def _value(value: Any) -> str:
    """A value on one line for a person, cut when long; `none` when there is none."""
    return "none" if value is None else shown(value, VALUE_WIDTH)


def _md(value: Any) -> str:
    return escape(value, one_line=True)


def _cell(value: Any) -> str:
    return escape(value, one_line=True)


def _tcode(value: Any) -> str:
    return _code(value, in_table=True)
