"""Built-in plugin: the `wait` action, a duration let pass between two steps."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import wait

    register(
        ActionSpec(
            key="wait",
            honours_lock_timeout=False,
            config=wait.WaitConfig,
            run=wait.run,
            undo=wait.undo,
            describe=wait.describe,
            transactional=False,  # never hold the run's transaction open while time passes
            stand_in=wait.stand_in,  # a rehearsal lets no time pass
            summary="wait a duration (`30s`, `5m`) for an application to pick up a change; "
            "Ctrl-C stops it",
        )
    )
