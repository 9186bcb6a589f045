"""Built-in plugin: the `manual` action, an instruction a person carries out."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import manual

    register(
        ActionSpec(
            key="manual",
            honours_lock_timeout=False,
            config=str,
            run=manual.run,
            undo=manual.undo,
            describe=manual.describe,
            transactional=manual.in_transaction,
            summary="an instruction for a person; waits for their confirmation",
        )
    )
