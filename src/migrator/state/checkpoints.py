"""`migrator.checkpoints`: how far a step that commits as it goes (a backfill) got.

A checkpoint is written on the batch's own connection, inside the batch's transaction,
so that it commits together with the work it records. Its `position` is the step's
own (JSON); the rest is counted here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.state.runs import RunNotOwned, owns_run
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Checkpoint:
    position: Any
    rows_done: int
    batches_done: int
    statement_checksum: str


def load_checkpoint(conn: Connection, run_id: int, step: str) -> Checkpoint | None:
    return _read(conn, run_id, step, "")


def lock_checkpoint(
    conn: Connection, run_id: int, step: str, owner: str | None = None
) -> Checkpoint | None:
    """The checkpoint as committed now, its row locked until the transaction ends: for
    steps whose parallel batches each merge their own progress into it.

    `owner` (the step's `StepContext.owner`): first make sure the run is still this
    process's, else RunNotOwned (exit 4): another process took the run over while this
    one was cut off, and the batch must not commit (it rolls back with its transaction).
    """
    if owner is not None and not owns_run(conn, run_id, owner, share=True):
        raise RunNotOwned(run_id)
    return _read(conn, run_id, step, " for update")


def _read(conn: Connection, run_id: int, step: str, locking: str) -> Checkpoint | None:
    row = conn.execute(
        text(
            "select position, rows_done, batches_done, statement_checksum "
            f"from migrator.checkpoints where run_id = :r and step = :s{locking}"
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


def checkpoint_position_sql() -> str:
    """A query of the `position` of the checkpoint of run `%(run)s` and step `%(step)s`
    (psycopg parameters; one row, or none before the first save), for a step to use as a
    subquery when the database must read the checkpoint inside a statement of its own."""
    return "select position from migrator.checkpoints where run_id = %(run)s and step = %(step)s"
