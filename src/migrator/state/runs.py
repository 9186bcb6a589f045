"""`migrator.runs`: one row per run of a transition, its status and who ran it."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode, MigratorError
from migrator.state.kinds import FINAL_STATUSES, UNSETTLED_STATUSES, RunStatus
from migrator.state.schema import schema_exists
from migrator.state.sql import text
from migrator.storable import storable_text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


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
_FINAL = sorted(str(s) for s in FINAL_STATUSES)  # plain strings for the driver


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
    owner: str | None = None,
    owned_by: str | None = None,
) -> int:
    """A new run, `pending`, of this process on this host, owned by token `owner`; its id."""
    return int(
        conn.execute(
            text(
                "insert into migrator.runs (plan, transition, from_phase, to_phase, status, "
                "operator, host, pid, plan_checksum, plan_file, reverts, owner, owned_by) values "
                "(:plan, :t, :f, :to, :status, :op, :host, :pid, :sum, :file, :rev, "
                "cast(:owner as uuid), :owned_by) returning id"
            ),
            {
                "plan": plan,
                "t": transition,
                "f": from_phase,
                "to": to_phase,
                "status": str(RunStatus.PENDING),
                "op": operator,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "sum": checksum,
                "file": plan_file,
                "rev": reverts,
                "owner": owner,
                "owned_by": owned_by,
            },
        ).scalar_one()
    )


def set_run_status(
    conn: Connection, run_id: int, status: RunStatus, *, error: str | None = None
) -> None:
    """Change the run's status; a run that has finished gets its `finished_at`."""
    final = status in FINAL_STATUSES or status in UNSETTLED_STATUSES
    conn.execute(
        text(
            "update migrator.runs set status = :s, error = coalesce(:e, error), "
            "finished_at = case when :final then clock_timestamp() else null end where id = :id"
        ),
        {
            "s": str(status),
            "e": None if error is None else storable_text(error),
            "final": final,
            "id": run_id,
        },
    )


def take_run(conn: Connection, run_id: int, owner: str, owned_by: str) -> None:
    """Make token `owner` the owner of run `run_id` (a resume, a rollback, an unlock):
    whoever owned it before changes it no more (see `owns_run`)."""
    conn.execute(
        text(
            "update migrator.runs set owner = cast(:owner as uuid), owned_by = :by where id = :id"
        ),
        {"owner": owner, "by": owned_by, "id": run_id},
    )


class RunNotOwned(MigratorError):
    """The run is no longer this process's: another process took it over (exit 4)."""

    exit_code = ExitCode.LOCKED

    def __init__(self, run_id: int) -> None:
        super().__init__(
            f"run {run_id} was taken over by another process: this one writes nothing more"
        )


def owns_run(conn: Connection, run_id: int, owner: str, *, share: bool = False) -> bool:
    """Whether token `owner` still owns run `run_id`; if so the run's row stays locked
    until the transaction ends (`for update`, or `for share`: among the parallel
    batches of one step), so that no one takes the run over before it commits."""
    mode = "share" if share else "update"
    return (
        conn.execute(
            text(
                "select 1 from migrator.runs where id = :id and owner = cast(:owner as uuid) "
                f"for {mode}"
            ),
            {"id": run_id, "owner": owner},
        ).first()
        is not None
    )


def owner_of(conn: Connection, run_id: int) -> str | None:
    """Who owns run `run_id` now, as recorded when it was taken (for messages)."""
    return conn.execute(
        text("select owned_by from migrator.runs where id = :id"), {"id": run_id}
    ).scalar()


def get_run(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(
        text(f"select {_RUN_COLUMNS} from migrator.runs where id = :id"), {"id": run_id}
    ).first()
    return RunRow(*row) if row else None


def runs_of(conn: Connection, plan: str, limit: int | None = None) -> list[RunRow]:
    """The plan's runs, newest first (no more than `limit`)."""
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
            "and status <> all(:final) order by id desc limit 1"
        ),
        {"p": plan, "final": _FINAL},
    ).first()
    return RunRow(*row) if row else None


def last_succeeded_run(conn: Connection, plan: str) -> RunRow | None:
    """The run that brought the plan to its current phase, if any."""
    row = conn.execute(
        text(
            "select r.id from migrator.plan_state s join migrator.runs r on r.id = s.last_run "
            "where s.plan = :p"
        ),
        {"p": plan},
    ).scalar()
    return get_run(conn, int(row)) if row is not None else None


def runs_taking_back(conn: Connection, run_id: int) -> list[RunRow]:
    """The later runs that took run `run_id` back (rollbacks of it), oldest first."""
    rows = conn.execute(
        text(f"select {_RUN_COLUMNS} from migrator.runs where reverts = :id order by id"),
        {"id": run_id},
    ).all()
    return [RunRow(*r) for r in rows]
