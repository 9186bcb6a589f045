"""The audit trail of a plan as people and scripts read it: `migrator history`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from migrator import state
from migrator.plan import Plan
from migrator.views.console import Reporter


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
        for e in run["events"]:
            detail = e["detail"] or {}
            bits = [
                f"{k}={detail[k]!r}"
                for k in ("actual", "expected", "error", "reason", "via")
                if detail.get(k) not in (None, "")
            ]
            step = f" {e['step']}" if e["step"] else ""
            say(
                f"  {e['at']:%H:%M:%S.%f}"[:-3]
                + f"  {e['kind']:<8} {e['status']:<12}{step}"
                + (f"  ({', '.join(bits)})" if bits else "")
            )
        if "trail" in run:
            _render_trail(run["id"], run["trail"], reporter)
    if "intact" in doc:
        intact = doc["intact"]
        say(
            "every trail shown is intact" if intact else "the audit trail was edited",
            style="green" if intact else "red",
        )


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
