"""The state migrator keeps in the target database: schema `migrator`, versioned.

Tables (SPEC.md): `plan_state`, `runs`, `events` (the audit trail), `checkpoints`,
`flags`; plus `locks` (who holds a plan's lock) and `controls` (pause a backfill).
The schema is created on first use and upgraded in order by `MIGRATIONS`; the
version lives in `schema_version`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

SCHEMA = "migrator"
_SCHEMA_LOCK = 0x6D6967726174  # "migrat": serializes schema creation across processes

MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    create schema if not exists migrator;
    create table migrator.schema_version (
        version int not null,
        upgraded_at timestamptz not null default now()
    );
    create table migrator.runs (
        id bigserial primary key,
        plan text not null,
        transition text not null,
        from_phase text not null,
        to_phase text not null,
        status text not null,
        operator text not null,
        host text not null,
        pid int not null,
        plan_checksum text not null,
        plan_file text,
        reverts bigint references migrator.runs (id),
        started_at timestamptz not null default now(),
        finished_at timestamptz,
        error text
    );
    create index runs_plan on migrator.runs (plan, id desc);
    create table migrator.plan_state (
        plan text primary key,
        phase text not null,
        updated_at timestamptz not null default now(),
        last_run bigint references migrator.runs (id)
    );
    create table migrator.events (
        id bigserial primary key,
        run_id bigint not null references migrator.runs (id),
        at timestamptz not null default clock_timestamp(),
        step text,
        kind text not null,
        status text not null,
        detail jsonb not null default '{}'
    );
    create index events_run on migrator.events (run_id, id);
    create table migrator.checkpoints (
        run_id bigint not null references migrator.runs (id),
        step text not null,
        position jsonb,
        rows_done bigint not null default 0,
        batches_done bigint not null default 0,
        statement_checksum text not null,
        updated_at timestamptz not null default now(),
        primary key (run_id, step)
    );
    create table migrator.flags (
        name text primary key,
        value jsonb not null,
        updated_at timestamptz not null default now(),
        updated_by text
    );
    create table migrator.locks (
        plan text primary key,
        run_id bigint,
        operator text not null,
        host text not null,
        pid int not null,
        backend_pid int not null,
        acquired_at timestamptz not null default now()
    );
    create table migrator.controls (
        plan text primary key,
        paused boolean not null default false,
        batch_size int,
        updated_at timestamptz not null default now(),
        updated_by text
    );
    """,
    # version 2: a batch size given to `resume` belongs to the run it resumed
    """
    alter table migrator.controls add column batch_size_run bigint;
    update migrator.controls set batch_size = null;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

FINAL_STATUSES = frozenset({"succeeded", "failed", "undone"})
UNSETTLED_STATUSES = frozenset({"undo_failed"})


def schema_exists(conn: Connection) -> bool:
    return bool(
        conn.execute(text("select to_regclass('migrator.schema_version') is not null")).scalar()
    )


def ensure_schema(conn: Connection) -> int:
    """Create or upgrade schema `migrator`; safe when several processes start at once."""
    with conn.begin():
        conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
        current = 0
        if schema_exists(conn):
            current = int(
                conn.execute(text("select max(version) from migrator.schema_version")).scalar() or 0
            )
        if current > SCHEMA_VERSION:
            from migrator.errors import MigratorError

            raise MigratorError(
                f"schema migrator is at version {current}, newer than this migrator "
                f"understands ({SCHEMA_VERSION}): upgrade migrator"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.exec_driver_sql(MIGRATIONS[version - 1])
            conn.execute(
                text("insert into migrator.schema_version (version) values (:v)"), {"v": version}
            )
    return SCHEMA_VERSION


@dataclass(frozen=True)
class RunRow:
    id: int
    plan: str
    transition: str
    from_phase: str
    to_phase: str
    status: str
    operator: str
    host: str
    pid: int
    plan_checksum: str
    reverts: int | None
    started_at: datetime
    finished_at: datetime | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_RUN_COLUMNS = (
    "id, plan, transition, from_phase, to_phase, status, operator, host, pid, plan_checksum, "
    "reverts, started_at, finished_at, error"
)


def current_phase(conn: Connection, plan: str, initial: str) -> str:
    if not schema_exists(conn):
        return initial
    phase = conn.execute(
        text("select phase from migrator.plan_state where plan = :p"), {"p": plan}
    ).scalar()
    return str(phase) if phase is not None else initial


def set_phase(conn: Connection, plan: str, phase: str, run_id: int) -> None:
    conn.execute(
        text(
            "insert into migrator.plan_state (plan, phase, last_run) values (:p, :ph, :r) "
            "on conflict (plan) do update set phase = excluded.phase, "
            "last_run = excluded.last_run, updated_at = now()"
        ),
        {"p": plan, "ph": phase, "r": run_id},
    )


def create_run(
    conn: Connection,
    *,
    plan: str,
    transition: str,
    from_phase: str,
    to_phase: str,
    operator: str,
    checksum: str,
    plan_file: str,
    reverts: int | None = None,
) -> int:
    return int(
        conn.execute(
            text(
                "insert into migrator.runs (plan, transition, from_phase, to_phase, status, "
                "operator, host, pid, plan_checksum, plan_file, reverts) values "
                "(:plan, :t, :f, :to, 'pending', :op, :host, :pid, :sum, :file, :rev) returning id"
            ),
            {
                "plan": plan,
                "t": transition,
                "f": from_phase,
                "to": to_phase,
                "op": operator,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "sum": checksum,
                "file": plan_file,
                "rev": reverts,
            },
        ).scalar_one()
    )


def set_run_status(conn: Connection, run_id: int, status: str, *, error: str | None = None) -> None:
    final = status in FINAL_STATUSES or status in UNSETTLED_STATUSES
    conn.execute(
        text(
            "update migrator.runs set status = :s, error = coalesce(:e, error), "
            "finished_at = case when :final then clock_timestamp() else null end where id = :id"
        ),
        {"s": status, "e": error, "final": final, "id": run_id},
    )


_INSERT_EVENT = text(
    "insert into migrator.events (run_id, step, kind, status, detail) "
    "values (:r, :step, :k, :s, cast(:d as jsonb)) returning id"
)
# The same insert, and its transaction's commit not waiting for the disk: one round trip.
_INSERT_EVENT_LAZILY = text(
    "insert into migrator.events (run_id, step, kind, status, detail) "
    "select :r, :step, :k, :s, cast(:d as jsonb) "
    "from (select set_config('synchronous_commit', 'off', true)) as lazily returning id"
)


def record_event(
    conn: Connection,
    run_id: int,
    kind: str,
    status: str,
    *,
    step: str | None = None,
    detail: Mapping[str, Any] | None = None,
    durable: bool = True,
) -> int:
    """Add an event to the audit trail; its id.

    `durable=False` turns `synchronous_commit` off for the rest of the transaction: only
    for an event in a transaction of its own, whose loss in a crash of the server itself
    (never of migrator's process) nothing depends on.
    """
    return int(
        conn.execute(
            _INSERT_EVENT if durable else _INSERT_EVENT_LAZILY,
            {
                "r": run_id,
                "step": step,
                "k": kind,
                "s": status,
                "d": json.dumps(dict(detail or {}), default=str),
            },
        ).scalar_one()
    )


def get_run(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(
        text(f"select {_RUN_COLUMNS} from migrator.runs where id = :id"), {"id": run_id}
    ).first()
    return RunRow(*row) if row else None


def runs_of(conn: Connection, plan: str, limit: int | None = None) -> list[RunRow]:
    if not schema_exists(conn):
        return []
    sql = f"select {_RUN_COLUMNS} from migrator.runs where plan = :p order by id desc"
    if limit:
        sql += " limit :n"
    return [RunRow(*r) for r in conn.execute(text(sql), {"p": plan, "n": limit}).all()]


def open_run(conn: Connection, plan: str) -> RunRow | None:
    """The plan's newest run that has not reached a final status, if any."""
    if not schema_exists(conn):
        return None
    row = conn.execute(
        text(
            f"select {_RUN_COLUMNS} from migrator.runs where plan = :p "
            "and status not in ('succeeded', 'failed', 'undone') order by id desc limit 1"
        ),
        {"p": plan},
    ).first()
    return RunRow(*row) if row else None


def last_succeeded_run(conn: Connection, plan: str) -> RunRow | None:
    row = conn.execute(
        text(
            "select r.id from migrator.plan_state s join migrator.runs r on r.id = s.last_run "
            "where s.plan = :p"
        ),
        {"p": plan},
    ).scalar()
    return get_run(conn, int(row)) if row is not None else None


@dataclass(frozen=True)
class EventRow:
    id: int
    run_id: int
    at: datetime
    step: str | None
    kind: str
    status: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def events_of(conn: Connection, run_ids: list[int]) -> list[EventRow]:
    if not run_ids:
        return []
    rows = conn.execute(
        text(
            "select id, run_id, at, step, kind, status, detail from migrator.events "
            "where run_id = any(:ids) order by id"
        ),
        {"ids": run_ids},
    ).all()
    return [EventRow(*r) for r in rows]
