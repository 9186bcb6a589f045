"""`migrator plan`: what `apply` would do, and which pre-checks would fail today. Writes nothing.

Each pre-check runs as in a run (`migrator.engine.checks`: a connection of its own,
guarded, READ ONLY whatever the check declares; through a pooler in transaction mode
without the session reset and lock release, which would reach other clients' sessions),
and each preview in a READ ONLY transaction under the same guard, waiting at most the
step's lock_timeout for a lock (a preview that could not get one says so, naming who held it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.db.checksql import GUARD_KEY, CheckGuard
from migrator.db.failures import error_text
from migrator.db.lockwait import DEFAULT_LOCK_TIMEOUT, set_lock_timeout, watch_locks
from migrator.db.sessions import TransactionPooling, require_pinned
from migrator.engine.checks import CheckConnection, evaluate_check
from migrator.engine.environment import RunEnvironment
from migrator.plan.graph import find_path
from migrator.plan.model import Transition
from migrator.state import current_phase
from migrator.views.console import Reporter


def _undo_text(env: RunEnvironment, step: Any) -> str:
    return env.registry.describe_undo(step)


def _check_doc(env: RunEnvironment, index: int, check: Any) -> dict[str, Any]:
    spec = env.registry.checks[check.check_key]
    return {
        "name": check.label(index),
        "check": check.check_key,
        "describe": spec.describe(check),
        "expect": None if check.expectation is None else str(check.expectation),
        "on_fail": check.on_fail,
        "wait": check.wait.model_dump() if check.wait else None,
        "soak": check.soak.model_dump() if check.soak else None,
    }


def _preview(env: RunEnvironment, conn: Connection, step: Any) -> str | None:
    spec = env.registry.actions[step.action_key]
    if spec.preview is None or spec.reaches_outside:  # a dry run calls nothing outside
        return None
    waits = step.lock_timeout or DEFAULT_LOCK_TIMEOUT  # as the step would: no longer
    with conn.begin() as tx:
        conn.execute(text("set transaction read only"))
        conn.execute(text("set local standard_conforming_strings = on"))  # as checks read
        set_lock_timeout(conn, waits)
        user, pid = conn.execute(text("select current_user, pg_backend_pid()")).one()
        conn.info[GUARD_KEY] = CheckGuard(str(user), read_only=True)
        try:
            with watch_locks(env.db, int(pid), env.secrets, lock_timeout=waits):
                return spec.preview(env.step_context(conn, None, dry_run=True), step)
        except Exception as exc:
            return f"(no preview: {error_text(exc)})"
        finally:
            conn.info.pop(GUARD_KEY, None)
            tx.rollback()


def _steps(env: RunEnvironment, t: Transition, conn: Connection) -> list[dict[str, Any]]:
    plan = env.plan
    if t.reverts is not None:
        original = plan.transition(t.reverts)
        return [
            {
                "name": f"undo {step.label(i)}",
                "action": f"undo:{step.action_key}",
                "describe": _undo_text(env, step),
                "undo": None,
            }
            for i, step in reversed(list(enumerate(original.steps)))
        ]
    return [
        {
            "name": step.label(i),
            "action": step.action_key,
            "describe": env.registry.actions[step.action_key].describe(step),
            "preview": _preview(env, conn, step),
            "undo": _undo_text(env, step),
        }
        for i, step in enumerate(t.steps)
    ]


def dry_run_document(env: RunEnvironment, target: str) -> dict[str, Any]:
    with env.db.connect() as conn, CheckConnection(env.db, pinned=_pinned(env)) as own:
        return _document(env, target, conn, own)


def _pinned(env: RunEnvironment) -> bool:
    """Whether the dry run's connections keep their own server sessions (no pooler in
    transaction mode in between): `migrator plan` works through such a pooler, but there
    resets and releases no session state, which other clients would share."""
    try:
        require_pinned(env.db)
    except TransactionPooling:
        return False
    return True


def _document(
    env: RunEnvironment, target: str, conn: Connection, own: CheckConnection
) -> dict[str, Any]:
    plan = env.plan
    with conn.begin():
        phase = current_phase(conn, plan.name, plan.initial_phase)
        superuser = _superuser(conn)
    path = find_path(plan, phase, target)
    transitions = []
    for n, t in enumerate(path):
        pre = []
        for i, check in enumerate(t.pre_checks):
            doc = _check_doc(env, i, check)
            outcome, _, _ = evaluate_check(env, own, None, check, read_only=True)
            doc["today"] = {
                "passed": outcome.passed,
                "actual": outcome.actual,
                "expected": outcome.expected,
                "detail": outcome.detail,
                "after_earlier_transitions": n > 0,
            }
            pre.append(doc)
        transitions.append(
            {
                **t.heading(),
                "pre_checks": pre,
                "steps": _steps(env, t, conn),
                "post_checks": [_check_doc(env, i, c) for i, c in enumerate(t.post_checks)],
            }
        )
    return {
        "plan": plan.name,
        "file": plan.file,
        "from": phase,
        "to": target,
        "variables": env.options.variables,
        "superuser": superuser,
        "path": transitions,
    }


def _superuser(conn: Connection) -> str | None:
    """The role the dry run connected as, when it is a superuser (else None)."""
    row = conn.execute(
        text("select current_user, rolsuper from pg_roles where rolname = current_user")
    ).first()
    return str(row[0]) if row is not None and row[1] else None


def render_dry_run(doc: dict[str, Any], reporter: Reporter) -> None:
    say = reporter.say
    if doc.get("superuser"):
        say(
            f"warning: connected as superuser {doc['superuser']}: checks are held read-only "
            "and guarded, but a role without superuser rights is safer for a dry run",
            style="yellow",
        )
    if not doc["path"]:
        say(f"plan {doc['plan']} is already in phase '{doc['to']}': apply would do nothing")
        return
    names = " -> ".join(t["name"] for t in doc["path"])
    say(f"plan {doc['plan']}: {doc['from']} -> {doc['to']} by {names}", style="bold")
    say("dry run: nothing is changed; pre-checks are evaluated read-only against today's data")
    for t in doc["path"]:
        gate = ", needs approval" if t["approval"] else ""
        say("")
        say(
            f"transition {t['name']} ({t['from']} -> {t['to']}), risk {t['risk']}{gate}",
            style="bold",
        )
        if t["description"]:
            say(f"  {t['description']}")
        for c in t["pre_checks"]:
            today = c["today"]
            verdict = "passes" if today["passed"] else "FAILS"
            when = (
                " (before the earlier transitions ran)"
                if today["after_earlier_transitions"]
                else ""
            )
            say(
                f"  pre-check {c['name']}: {verdict} today{when}: actual {today['actual']!r}, "
                f"expected {today['expected']}"
                + (f" — {today['detail']}" if today["detail"] else ""),
                style="green" if today["passed"] else "red",
            )
            say(_indent(c["describe"], 6))
        for s in t["steps"]:
            say(f"  step {s['name']} ({s['action']}):")
            say(_indent(s["describe"], 6))
            if s.get("preview"):
                say("    today:")
                say(_indent(s["preview"], 6))
            if s["undo"]:
                say(f"    undo: {s['undo']}" if "\n" not in s["undo"] else "    undo:")
                if "\n" in s["undo"]:
                    say(_indent(s["undo"], 6))
        for c in t["post_checks"]:
            say(
                f"  post-check {c['name']}: expect {c['expect']}"
                if c["expect"]
                else f"  post-check {c['name']}"
            )
            say(_indent(c["describe"], 6))


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in str(text).splitlines())
