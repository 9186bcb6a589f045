"""`migrator.controls`: what an operator asked of a running plan (pause, batch size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from migrator.state.schema import table_exists
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Control:
    """What an operator asked of a running plan: hold between batches, another batch size
    (for the run that `migrator resume --batch-size` resumed, and no other)."""

    paused: bool = False
    batch_size: int | None = None


def read_control(conn: Connection, plan: str, run_id: int | None = None) -> Control:
    """The plan's controls as run `run_id` sees them."""
    if not table_exists(conn, "controls"):
        return Control()
    row = conn.execute(
        text(
            "select paused, case when batch_size_run = :run then batch_size end "
            "from migrator.controls where plan = :p"
        ),
        {"p": plan, "run": run_id},
    ).first()
    return Control(bool(row[0]), row[1]) if row else Control()


def write_control(
    conn: Connection,
    plan: str,
    operator: str,
    *,
    paused: bool | None = None,
    batch_size: int | None = None,
    run_id: int | None = None,
) -> None:
    """Change what is given, keep the rest (insert the row the first time).

    `batch_size` is for the backfill of run `run_id` only, from now on.
    """
    if (batch_size is None) != (run_id is None):
        raise ValueError("a batch size is given for a run: both or neither")
    conn.execute(
        text(
            "insert into migrator.controls (plan, paused, batch_size, batch_size_run, updated_by) "
            "values (:p, coalesce(:paused, false), :size, :run, :by) "
            "on conflict (plan) do update set "
            "paused = coalesce(:paused, migrator.controls.paused), "
            "batch_size = coalesce(:size, migrator.controls.batch_size), "
            "batch_size_run = coalesce(:run, migrator.controls.batch_size_run), "
            "updated_at = now(), updated_by = :by"
        ),
        {"p": plan, "paused": paused, "size": batch_size, "run": run_id, "by": operator},
    )
