"""Built-in plugin: the `backfill` action (batched, resumable, idempotent data copy)."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import backfill, lint

    register(
        ActionSpec(
            key="backfill",
            config=backfill.BackfillConfig,
            run=backfill.run,
            describe=backfill.describe,
            transactional=False,  # it commits batch by batch, each with its checkpoint
            preview=backfill.preview,
            lint=lint.lint,
            sql_texts=lint.sql_texts,
            lint_database=lint.lint_database,
            rules=lint.RULES,
            summary="copy data in keyset batches, each committed with its checkpoint",
            pausable=True,  # it reads the plan's controls before each batch
        )
    )
