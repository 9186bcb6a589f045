"""The `notify` plugin: a plan's `notify:` receivers (a webhook as JSON, Slack) told when a
run starts, succeeds, fails, fails its undo, needs an approval or is interrupted.

Built on the public reporting hooks only. Each command gets a `Notifier` at
`migrator_command_start` (kept until `migrator_command_end`); the notifications go out on
threads of the plugin's, so a receiver never holds the run (see `delivery.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import migrator
from migrator.plugin import CommandInfo, PerCommand, PlanKeySpec, RunEvent, RunInfo

if TYPE_CHECKING:
    from .notifier import Notifier

_NOTIFIERS: PerCommand[Notifier] = PerCommand()
"""The notifier of each command under way, by the id of its `CommandInfo`."""


@migrator.hookimpl
def migrator_register_plan_keys(register: Callable[[PlanKeySpec], None]) -> None:
    from .config import Notify

    register(
        PlanKeySpec(
            "notify",
            Notify,
            "receivers told of runs: [{url, on: [EVENT...], format: json|slack, timeout}]",
        )
    )


@migrator.hookimpl
def migrator_command_start(command: CommandInfo) -> None:
    from .notifier import notifier_for

    notifier = notifier_for(command)
    if notifier is not None:
        _NOTIFIERS.keep(command, notifier)


@migrator.hookimpl
def migrator_event(run: RunInfo, event: RunEvent) -> None:
    notifier = _NOTIFIERS.of(run)
    if notifier is not None:
        notifier.event(run, event)


@migrator.hookimpl
def migrator_command_end(command: CommandInfo, exit_code: int, error: str | None) -> None:
    notifier = _NOTIFIERS.end(command)
    if notifier is not None:
        notifier.end(exit_code, error)
