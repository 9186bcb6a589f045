"""Reading a plan's state without changing anything: `status` and `history`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from migrator import state
from migrator.engine.locks import lock_holder
from migrator.plan import Plan
from migrator.views.console import Reporter


def plan_status(db: Engine, plan: Plan, last: int = 10) -> dict[str, Any]:
    held, holder = lock_holder(db, plan.name)
    with db.connect() as conn:
        phase = state.current_phase(conn, plan.name, plan.initial_phase)
        open_run = state.open_run(conn, plan.name)
        runs = state.runs_of(conn, plan.name, limit=last)
        paused = False
        last_step = None
        if state.schema_exists(conn):
            paused = state.read_control(conn, plan.name).paused
            if open_run is not None:
                last_step = state.last_step_done(conn, open_run.id)
    open_doc = None
    if open_run is not None:
        shown: str = state.RunStatus.INTERRUPTED
        if open_run.status == state.RunStatus.UNDO_FAILED:
            shown = state.RunStatus.UNDO_FAILED
        elif held:
            shown = "running"  # the holder of the lock is at work on it
        open_doc = {**open_run.as_dict(), "state": shown, "last_step_done": last_step}
    return {
        "plan": plan.name,
        "file": plan.file,
        "kind": plan.kind,
        "phase": phase,
        "phases": list(plan.phases),
        "lock": {
            "held": held,
            "holder": None
            if holder is None
            else {
                "run_id": holder.run_id,
                "operator": holder.operator,
                "host": holder.host,
                "pid": holder.pid,
                "since": holder.since,
            },
        },
        "open_run": open_doc,
        "paused": paused,
        "runs": [r.as_dict() for r in runs],
    }


def render_status(doc: dict[str, Any], reporter: Reporter) -> None:
    say = reporter.say
    say(f"plan {doc['plan']} ({doc['file']})", style="bold")
    say(f"phase: {doc['phase']}   (phases: {' -> '.join(doc['phases'])})")
    lock = doc["lock"]
    if lock["held"]:
        h = lock["holder"]
        who = (
            f"run {h['run_id']} of {h['operator']} on {h['host']} (pid {h['pid']}) "
            f"since {h['since']:%Y-%m-%d %H:%M:%S}"
            if h
            else "another session"
        )
        say(f"lock: held by {who}")
    else:
        say("lock: free")
    run = doc["open_run"]
    if run:
        shown = run["state"].replace("_", " ")
        last = f", last step done: {run['last_step_done']}" if run["last_step_done"] else ""
        say(
            f"run {run['id']} ({run['transition']}: {run['from_phase']} -> {run['to_phase']}) "
            f"is {shown} (recorded as {run['status']}{last})",
            style="red" if run["state"] != "running" else "yellow",
        )
        if run["state"] != "running":
            say(f"  settle it: migrator resume {doc['file']}  |  migrator rollback {doc['file']}")
    if doc["paused"]:
        say("backfill: paused (migrator continue to release it)", style="yellow")
    if doc["runs"]:
        say("last runs:")
        for r in doc["runs"]:
            say(
                f"  {r['id']:>5}  {r['started_at']:%Y-%m-%d %H:%M:%S}  {r['transition']:<22} "
                f"{r['from_phase']} -> {r['to_phase']:<14} {r['status']:<12} {r['operator']}"
            )
    else:
        say("no runs yet")
