"""Services for steps that run long and commit as they go (the backfill): checkpoints
that commit together with each batch, and live controls (pause, batch size).

All functions take a SQLAlchemy connection: a checkpoint is written on the
batch's own connection, inside the batch's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def text(sql: str) -> Any:
    """SQLAlchemy's `text`, imported when first needed (plans load without SQLAlchemy)."""
    from sqlalchemy import text as sqlalchemy_text

    return sqlalchemy_text(sql)


@dataclass(frozen=True)
class Checkpoint:
    position: Any
    rows_done: int
    batches_done: int
    statement_checksum: str


def load_checkpoint(conn: Connection, run_id: int, step: str) -> Checkpoint | None:
    row = conn.execute(
        text(
            "select position, rows_done, batches_done, statement_checksum "
            "from migrator.checkpoints where run_id = :r and step = :s"
        ),
        {"r": run_id, "s": step},
    ).first()
    return Checkpoint(row[0], int(row[1]), int(row[2]), str(row[3])) if row else None


def lock_checkpoint(conn: Connection, run_id: int, step: str) -> Checkpoint | None:
    """The checkpoint as committed now, its row locked until the transaction ends: for
    steps whose parallel batches each merge their own progress into it."""
    row = conn.execute(
        text(
            "select position, rows_done, batches_done, statement_checksum "
            "from migrator.checkpoints where run_id = :r and step = :s for update"
        ),
        {"r": run_id, "s": step},
    ).first()
    return Checkpoint(row[0], int(row[1]), int(row[2]), str(row[3])) if row else None


def save_checkpoint(conn: Connection, run_id: int, step: str, checkpoint: Checkpoint) -> None:
    """Record how far the step got; call it inside the transaction of the work it records."""
    conn.execute(
        text(
            "insert into migrator.checkpoints "
            "(run_id, step, position, rows_done, batches_done, statement_checksum) "
            "values (:r, :s, cast(:p as jsonb), :rows, :batches, :sum) "
            "on conflict (run_id, step) do update set position = excluded.position, "
            "rows_done = excluded.rows_done, batches_done = excluded.batches_done, "
            "statement_checksum = excluded.statement_checksum, updated_at = now()"
        ),
        {
            "r": run_id,
            "s": step,
            "p": json.dumps(checkpoint.position),
            "rows": checkpoint.rows_done,
            "batches": checkpoint.batches_done,
            "sum": checkpoint.statement_checksum,
        },
    )


@dataclass(frozen=True)
class Control:
    """What an operator asked of a running plan: hold between batches, another batch size
    (for the run that `migrator resume --batch-size` resumed, and no other)."""

    paused: bool = False
    batch_size: int | None = None


def read_control(conn: Connection, plan: str, run_id: int | None = None) -> Control:
    """The plan's controls as run `run_id` sees them."""
    if not conn.execute(text("select to_regclass('migrator.controls') is not null")).scalar():
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
