"""Built-in plugin: the `command` action, a program run without a shell."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import command

    register(
        ActionSpec(
            key="command",
            honours_lock_timeout=False,
            config=command.CommandConfig,
            run=command.run,
            describe=command.describe,
            transactional=False,
            reaches_outside=True,
            summary="run a program (an argv list, no shell); its output goes to the audit trail",
        )
    )
