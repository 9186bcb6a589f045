"""What `migrator status` reads of a run while it is under way, beside its row: the step it
is in, the operator's controls with who changed them, the rows its checkpoints committed,
its last retry, the plans the database knows, and the sessions its process waits for now.

Only reads; every query takes the connection of the caller's (read-only) transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from migrator.state.kinds import EventKind, EventStatus
from migrator.state.schema import schema_exists, table_exists
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class ControlSet:
    """The plan's controls as last set: paused or not, by whom, when."""

    paused: bool
    by: str | None
    since: datetime | None


def database_now(conn: Connection) -> datetime:
    """The database's clock (the same clock as every time recorded in schema `migrator`)."""
    now: datetime = conn.execute(text("select clock_timestamp()")).scalar_one()
    return now


def current_step(conn: Connection, run_id: int) -> str | None:
    """The run's step started last and not yet recorded done or failed, if any."""
    return conn.execute(
        text(
            "select s.step from migrator.events s where s.run_id = :r and s.kind = :step "
            "and s.status = :started and not exists (select 1 from migrator.events e "
            "where e.run_id = s.run_id and e.kind = s.kind and e.status in (:done, :failed) "
            "and e.detail->'index' = s.detail->'index') order by s.id desc limit 1"
        ),
        {
            "r": run_id,
            "step": str(EventKind.STEP),
            "started": str(EventStatus.STARTED),
            "done": str(EventStatus.DONE),
            "failed": str(EventStatus.FAILED),
        },
    ).scalar()


def control_set(conn: Connection, plan: str) -> ControlSet:
    """The plan's pause, with who set it and when (no row: never paused)."""
    if not table_exists(conn, "controls"):
        return ControlSet(False, None, None)
    row = conn.execute(
        text("select paused, updated_by, updated_at from migrator.controls where plan = :p"),
        {"p": plan},
    ).first()
    return ControlSet(bool(row[0]), row[1], row[2]) if row else ControlSet(False, None, None)


def committed_rows(conn: Connection, run_id: int) -> dict[str, int]:
    """Rows done of each checkpointed step of the run, as its batches committed them."""
    rows = conn.execute(
        text("select step, rows_done from migrator.checkpoints where run_id = :r"),
        {"r": run_id},
    ).all()
    return {str(step): int(done) for step, done in rows}


def last_retry(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """The run's last `retry` event (of a step or an undo): when, which step, its detail,
    and whether it is the run's last event (`last`: it is still retrying)."""
    row = conn.execute(
        text(
            "select at, step, detail, id = (select max(l.id) from migrator.events l "
            "where l.run_id = :r) from migrator.events where run_id = :r "
            "and status = :retry order by id desc limit 1"
        ),
        {"r": run_id, "retry": str(EventStatus.RETRY)},
    ).first()
    if row is None:
        return None
    return {"at": row[0], "step": row[1], "detail": row[2] or {}, "last": bool(row[3])}


def last_event_at(conn: Connection, run_id: int) -> datetime | None:
    """When the run recorded its last event (of a run that stopped: when it stopped)."""
    at: datetime | None = conn.execute(
        text("select max(at) from migrator.events where run_id = :r"), {"r": run_id}
    ).scalar()
    return at


def plan_file(conn: Connection, run_id: int) -> str | None:
    """The plan file run `run_id` was started with, as its operator named it."""
    found = conn.execute(
        text("select plan_file from migrator.runs where id = :r"), {"r": run_id}
    ).scalar()
    return None if found is None else str(found)


def known_plans(conn: Connection) -> list[tuple[str, str]]:
    """Every plan the database has a run or a phase of, by name, with its phase (a plan
    that never finished a transition is in its first phase: where its first run began)."""
    if not schema_exists(conn):
        return []
    rows = conn.execute(
        text(
            "select p.plan, coalesce(s.phase, (select r.from_phase from migrator.runs r "
            "where r.plan = p.plan order by r.id limit 1)) "
            "from (select plan from migrator.runs union select plan from migrator.plan_state) p "
            "left join migrator.plan_state s on s.plan = p.plan order by p.plan"
        )
    ).all()
    return [(str(plan), str(phase)) for plan, phase in rows]


def lock_waits(conn: Connection, application: str) -> list[tuple[Any, ...]]:
    """The sessions that the sessions named `application` (a migrator process's) wait for
    a lock on now: (pid, user, application, state, seconds in transaction, query) each.

    A lock on a table, a row, a transaction...: not an advisory lock, which migrator's
    own work never waits for (its plan lock is only tried)."""
    return [
        tuple(row)
        for row in conn.execute(
            text(
                "select distinct b.pid, b.usename, b.application_name, b.state, "
                "extract(epoch from now() - b.xact_start)::float8, b.query "
                "from pg_stat_activity w cross join lateral unnest(pg_blocking_pids(w.pid)) "
                "as blocking(pid) join pg_stat_activity b on b.pid = blocking.pid "
                "where w.application_name = :name and w.wait_event_type = 'Lock' "
                "and w.wait_event <> 'advisory' and w.pid <> pg_backend_pid() order by b.pid"
            ),
            {"name": application},
        ).all()
    ]


def has_sessions(conn: Connection, application: str) -> bool:
    """Whether a session named `application` (a migrator process's) is on the database now
    (not this one): its process is alive and connected."""
    return bool(
        conn.execute(
            text(
                "select exists (select 1 from pg_stat_activity where application_name = :name "
                "and pid <> pg_backend_pid())"
            ),
            {"name": application},
        ).scalar()
    )
