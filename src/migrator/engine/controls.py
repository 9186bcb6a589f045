"""What an operator does to a run from outside it: pause and continue its backfill, and
take the plan's lock back from a frozen holder (`migrator unlock`).

None of it tries the plan's lock: who holds it is read from `pg_locks` and the holder
row of `migrator.locks`, so that looking never stands in a run's way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from migrator import state
from migrator.db.target import application_name
from migrator.engine.locks import lock_backend
from migrator.engine.runstate import LIVE
from migrator.errors import UsageError
from migrator.plan.model import Plan, Transition
from migrator.plugin.registry import Registry
from migrator.state.locks import Holder, read_holder

_LIVE = {str(s.value) for s in LIVE}


def _pausable_left(
    conn: Connection, plan: Plan, registry: Registry, run: state.RunRow
) -> list[str]:
    """The steps of live run `run` whose action reads the plan's controls (a backfill)
    and that may still run: forward, those not done yet; undoing, every rollback step."""

    def pausable(step: Any) -> bool:
        spec = registry.actions.get(step.action_key)
        return spec is not None and spec.pausable

    def rollback_steps(t: Transition) -> list[str]:
        return [
            u.label(i)
            for s in t.steps
            if isinstance(s.rollback, list | tuple)
            for i, u in enumerate(s.rollback)
            if pausable(u)
        ]

    try:
        t = plan.transition(run.transition)
    except KeyError:
        return []
    if run.reverts is not None:
        taken_back = state.get_run(conn, run.reverts)
        if taken_back is None or taken_back.transition not in {x.name for x in plan.transitions}:
            return []
        return rollback_steps(plan.transition(taken_back.transition))
    if run.status == state.RunStatus.UNDOING:
        return rollback_steps(t)
    done = {int(d["index"]) for _, d in state.steps_done(conn, run.id)}
    return [s.label(i) for i, s in enumerate(t.steps) if i not in done and pausable(s)]


def hold(db: Engine, plan: Plan, registry: Registry, operator: str, *, paused: bool) -> int | None:
    """Pause (or release) the backfill of the plan's live run; the run's id.

    Refuses (UsageError, exit 2) when no backfill of the plan is live: no run holds the
    plan's lock, or its run has no backfill left to run. Except that `continue` clears a
    pause left set with no run live (its run was interrupted while paused: a `resume`
    would start held): then None.
    """
    verb = "pause" if paused else "continue"
    with db.connect() as conn:
        with conn.begin():
            run = state.open_run(conn, plan.name)
            live = run is not None and run.status in _LIVE and lock_backend(conn, plan.name)
            left = _pausable_left(conn, plan, registry, run) if run is not None and live else []
            stale_pause = not paused and not live and state.read_control(conn, plan.name).paused
        if stale_pause:
            with conn.begin():
                state.write_control(conn, plan.name, operator, paused=False)
            return None
        if run is None or not live or not left:
            why = (
                "no run of it is live"
                if run is None or not live
                else f"run {run.id} ({run.transition}) has no backfill left to run"
            )
            raise UsageError(
                f"plan {plan.name} has no backfill running ({why}): nothing to {verb}; "
                f"`migrator status {plan.file}` shows the plan"
            )
        with conn.begin():
            state.write_control(conn, plan.name, operator, paused=paused)
    return run.id


@dataclass(frozen=True)
class Unlocked:
    """What `unlock` did: the run it settled and the sessions it ended."""

    run_id: int
    holder: Holder
    ended: list[int]


def unlock(
    db: Engine,
    plan: Plan,
    run_id: int,
    operator: str,
    confirm: Callable[[str], bool],
) -> Unlocked:
    """End the sessions of the process that holds the plan's lock for live run `run_id`,
    after `confirm(question)`, and record the run interrupted (for `resume` or
    `rollback`). Refuses (UsageError, exit 2) anything else: a run that is not live, a
    lock that is free or held for another run, a question answered no.
    """
    with db.connect() as conn:
        with conn.begin():
            run = state.get_run(conn, run_id) if state.schema_exists(conn) else None
            if run is None or run.plan != plan.name:
                raise UsageError(f"plan {plan.name} has no run {run_id}: nothing to unlock")
            if run.status not in _LIVE:
                raise UsageError(
                    f"run {run_id} of plan {plan.name} is {run.status}, not live: nothing to unlock"
                )
            backend = lock_backend(conn, plan.name)
            holder = read_holder(conn, plan.name, backend) if backend else None
        if backend is None:
            raise UsageError(
                f"the lock of plan {plan.name} is free: run {run_id} has no live process; "
                f"`migrator resume {plan.file}` or `migrator rollback {plan.file}` settles it"
            )
        if holder is None or holder.run_id != run_id:
            held_by = f"run {holder.run_id}" if holder and holder.run_id else "another session"
            raise UsageError(
                f"the lock of plan {plan.name} is held by {held_by}, not by run {run_id}: "
                "nothing was done"
            )
        question = (
            f"End every session of run {run_id} of plan {plan.name}, {holder}? Do it only if "
            "that process is frozen or gone: a process still at work is cut off mid-step"
        )
        if not confirm(question):
            raise UsageError(f"unlock of run {run_id} not confirmed: nothing was done")
        name = application_name(holder.pid, holder.host)
        owner, owned_by = str(uuid.uuid4()), f"{operator}, who unlocked it"
        _take_first(conn, run_id, owner, owned_by)
        with conn.begin():
            pids = [
                int(pid)
                for (pid,) in conn.execute(
                    text(
                        "select pid from pg_stat_activity where pid <> pg_backend_pid() "
                        "and (pid = :lock or application_name = :name)"
                    ),
                    {"lock": backend, "name": name},
                )
            ]
        ended = []
        for pid in sorted(pids):  # waiting up to 5 s for each to be gone
            with conn.begin():
                gone = conn.execute(
                    text("select pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                ).scalar()
            if gone:
                ended.append(pid)
        with conn.begin():
            still = lock_backend(conn, plan.name)
        if still == backend:
            raise UsageError(
                f"the session holding the lock of plan {plan.name} (backend {backend}) did "
                "not end: it may need a database superuser"
            )
        reason = (
            f"unlocked by {operator}: the sessions of its process ({holder.host}, pid "
            f"{holder.pid}) were ended"
        )
        with conn.begin():
            state.take_run(conn, run_id, owner, owned_by)  # the frozen process's run no more
            current = state.get_run(conn, run_id)
            if current is not None and current.status in _LIVE:
                state.set_run_status(conn, run_id, state.RunStatus.INTERRUPTED, error=reason)
                state.record_event(
                    conn,
                    run_id,
                    state.EventKind.STATE,
                    state.RunStatus.INTERRUPTED,
                    detail={"from": current.status, "reason": reason},
                )
            state.record_event(
                conn,
                run_id,
                state.EventKind.LOCK,
                state.EventStatus.UNLOCKED,
                detail={
                    "operator": operator,
                    "holder": {"host": holder.host, "pid": holder.pid, "operator": holder.operator},
                    "sessions_ended": ended,
                },
            )
    return Unlocked(run_id, holder, ended)


def _take_first(conn: Connection, run_id: int, owner: str, owned_by: str) -> None:
    """Take run `run_id` from its process before its sessions are ended, so that it
    changes nothing more even if it reconnects in between; a process frozen while it
    commits holds the run's row: then the run is taken once its sessions are gone."""
    with suppress(DBAPIError), conn.begin():
        conn.execute(text("set local lock_timeout = '1s'"))
        state.take_run(conn, run_id, owner, owned_by)
