"""Services for steps that run long and commit as they go (the backfill): checkpoints
that commit together with each batch, and live controls (pause, batch size).

All functions take a SQLAlchemy connection: a checkpoint is written on the
batch's own connection, inside the batch's transaction. Their queries live with
every other query of schema `migrator`, in `migrator.state`.
"""

from __future__ import annotations

from migrator.state.checkpoints import (
    Checkpoint,
    checkpoint_position_sql,
    load_checkpoint,
    lock_checkpoint,
    save_checkpoint,
)
from migrator.state.controls import Control, read_control, write_control
from migrator.state.runs import RunNotOwned

__all__ = [
    "Checkpoint",
    "Control",
    "RunNotOwned",
    "checkpoint_position_sql",
    "load_checkpoint",
    "lock_checkpoint",
    "read_control",
    "save_checkpoint",
    "write_control",
]
