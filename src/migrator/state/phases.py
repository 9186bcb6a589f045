"""`migrator.plan_state`: the phase each plan is in, and the run that brought it there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.state.schema import schema_exists
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def current_phase(conn: Connection, plan: str, initial: str) -> str:
    """The plan's phase; `initial` for a plan that never ran (or no schema yet)."""
    if not schema_exists(conn):
        return initial
    phase = conn.execute(
        text("select phase from migrator.plan_state where plan = :p"), {"p": plan}
    ).scalar()
    return str(phase) if phase is not None else initial


def set_phase(conn: Connection, plan: str, phase: str, run_id: int | None) -> None:
    """The plan is now in `phase`, brought there by run `run_id` (None: a copied state)."""
    conn.execute(
        text(
            "insert into migrator.plan_state (plan, phase, last_run) values (:p, :ph, :r) "
            "on conflict (plan) do update set phase = excluded.phase, "
            "last_run = excluded.last_run, updated_at = now()"
        ),
        {"p": plan, "ph": phase, "r": run_id},
    )
