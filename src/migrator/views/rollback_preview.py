"""`migrator rollback --dry-run`: what a rollback would undo, step by step, with the SQL.

Reads schema `migrator` in a READ ONLY transaction that is rolled back: nothing is
written, not even schema `migrator` is created. Names every step the rollback would
pass without undoing it (`rollback: irreversible`), which `rollback` refuses without
`--force`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator import state
from migrator.engine.environment import RunEnvironment
from migrator.engine.operations import begun_outside_transaction
from migrator.engine.runner import Runner
from migrator.plan.model import Transition
from migrator.views.console import Reporter


def _undo_doc(env: RunEnvironment, original: Transition, index: int) -> dict[str, Any]:
    step = original.steps[index]
    irreversible = step.rollback == "irreversible"
    return {
        "name": f"undo {step.label(index)}",
        "step": step.label(index),
        "action": f"undo:{step.action_key}",
        "describe": None if irreversible else env.registry.describe_undo(step),
        "irreversible": irreversible,
    }


def _undos(
    env: RunEnvironment, conn: Connection, run: state.RunRow, original: Transition
) -> list[dict[str, Any]]:
    """The undo of each step `run` completed (or began outside a transaction, killed while
    it ran), last first."""
    indexes = [int(detail["index"]) for _, detail in state.steps_done(conn, run.id)]
    unended = state.steps_unended(conn, run.id)
    indexes += begun_outside_transaction(env.registry, original, unended)
    return [
        _undo_doc(env, original, i)
        for i in reversed(list(dict.fromkeys(indexes)))
        if i < len(original.steps)
    ]


def _forward(env: RunEnvironment, t: Transition) -> list[dict[str, Any]]:
    """The steps of a reverse transition the plan spells out."""
    return [
        {
            "name": step.label(i),
            "step": step.label(i),
            "action": step.action_key,
            "describe": env.registry.actions[step.action_key].describe(step),
            "irreversible": False,
        }
        for i, step in enumerate(t.steps)
    ]


def _read(env: RunEnvironment, conn: Connection) -> dict[str, Any]:
    plan = env.plan
    doc: dict[str, Any] = {"plan": plan.name, "file": plan.file, "phase": plan.initial_phase}
    if not state.schema_exists(conn):
        return {**doc, "action": "nothing", "reason": "the plan has never run here"}
    doc["phase"] = state.current_phase(conn, plan.name, plan.initial_phase)
    runner = Runner(env)
    open_run = state.open_run(conn, plan.name)
    if open_run is not None:
        try:
            t = plan.transition(open_run.transition)
        except KeyError:
            t = None
        if open_run.reverts is not None or t is None:
            return {
                **doc,
                "action": "finish",
                "run": open_run.id,
                "transition": open_run.transition,
                "reason": f"run {open_run.id} is itself a rollback: rolling back finishes it",
                "approval": False,
                "steps": [],
            }
        return {
            **doc,
            "action": "undo_open_run",
            "run": open_run.id,
            "transition": t.name,
            "to": open_run.from_phase,
            "approval": False,
            "steps": _undos(env, conn, open_run, t),
        }
    last = state.last_succeeded_run(conn, plan.name)
    if last is None:
        return {**doc, "action": "nothing", "reason": "no completed transition to roll back"}
    if last.reverts is not None:
        return {
            **doc,
            "action": "nothing",
            "reason": f"the last run ({last.id}) took run {last.reverts} back",
        }
    back = runner.reverse_of(last)
    steps = (
        _undos(env, conn, last, plan.transition(last.transition))
        if back.reverts is not None
        else _forward(env, back)
    )
    return {
        **doc,
        "action": "take_back",
        "run": last.id,
        "transition": back.name,
        "to": back.target,
        "approval": back.approval,
        "steps": steps,
    }


def rollback_document(env: RunEnvironment) -> dict[str, Any]:
    """What `migrator rollback` would do now, read in a transaction that writes nothing."""
    with env.db.connect() as conn, conn.begin() as tx:
        conn.execute(text("set transaction read only"))
        doc = _read(env, conn)
        tx.rollback()
    doc["irreversible"] = [s["step"] for s in doc.get("steps", []) if s["irreversible"]]
    return doc


def render_rollback(doc: dict[str, Any], reporter: Reporter) -> None:
    say = reporter.say
    if doc["action"] == "nothing":
        say(f"plan {doc['plan']} (phase '{doc['phase']}'): {doc['reason']}: nothing to roll back")
        return
    if doc["action"] == "finish":
        say(f"plan {doc['plan']}: {doc['reason']}", style="bold")
        return
    what = (
        f"undo what interrupted run {doc['run']} ({doc['transition']}) completed"
        if doc["action"] == "undo_open_run"
        else f"take back run {doc['run']} by {doc['transition']}"
    )
    gate = ", needs approval" if doc["approval"] else ""
    say(
        f"plan {doc['plan']}: {what}: {doc['phase']} -> {doc['to']}{gate}",
        style="bold",
    )
    say("dry run: nothing is changed")
    if not doc["steps"]:
        say("  no step to undo")
    for s in doc["steps"]:
        if s["irreversible"]:
            say(f"  {s['name']}: CANNOT BE UNDONE (rollback: irreversible)", style="red")
            continue
        say(f"  {s['name']} ({s['action']}):")
        say("\n".join("      " + line for line in str(s["describe"]).splitlines()))
    if doc["irreversible"]:
        names = ", ".join(f"'{n}'" for n in doc["irreversible"])
        say(
            f"rollback refuses to pass {names} (exit 2); `--force` goes on, recording it "
            "not undone: its effect stays",
            style="red",
        )
