"""What the hooks that tell the world about runs are given: a command, a run, an event of
its audit trail, a long step's progress.

Plugins that notify people, keep metrics or trace runs (`migrator_command_start`,
`migrator_event`, `migrator_progress`, `migrator_command_end`) read these and nothing
else of the engine. Every text in them is already masked: a DSN's password, a value read
from `${env:...}`, never appears; a plugin that adds a secret of its own (a webhook URL)
calls `add_secret` first and `mask` on what it prints.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def _nothing(text: str) -> None:
    """What `warn` does where there is no trail to record a warning in."""


def _unmasked(text: str) -> str:
    return text


@dataclass(frozen=True)
class CommandInfo:
    """One `migrator apply`, `rollback` or `resume`: the command, its plan, who runs it where.

    - `command`: `apply`, `rollback` or `resume`.
    - `plan`, `plan_file`: the plan's name and the file it was read from.
    - `operator`: who runs it (`--operator`, else the OS user); `host`: this machine's name.
    - `database`: the target as `host:port/dbname`, never its user or password.
    - `settings`: the plan's top-level keys that plugins registered (`PlanKeySpec`), each
      its validated value; a key the plan leaves out is absent.
    - `options`: the command-line options plugins registered (`OptionSpec`), by name, each
      its value (None when not given).
    - `mask(text)`: `text` with every secret known so far replaced by `***`.
    - `add_secret(value)`: mask `value` from now on, in every line and event.
    - `interpolate(text)`: `${name}` and `${env:NAME}` in `text` resolved as a step's
      strings are (a value read from the environment is a secret from then on).
    """

    command: str
    plan: str
    plan_file: str
    operator: str
    database: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    host: str = field(default_factory=socket.gethostname)
    mask: Callable[[str], str] = field(default=_unmasked, repr=False, compare=False)
    add_secret: Callable[[str], None] = field(default=_nothing, repr=False, compare=False)
    interpolate: Callable[[str], str] = field(default=_unmasked, repr=False, compare=False)


@dataclass(frozen=True)
class RunInfo:
    """One run (one transition) of a command: `CommandInfo` and which run it is.

    - `command`: the command the run belongs to.
    - `run_id`: its id in `migrator.runs`; `transition`, `source`, `target`: the
      transition it makes, from phase to phase.
    - `warn(text)`: record a warning in the run's audit trail (an event of kind `hook`,
      status `warned`; shown to the operator). Call it only from the hook's own call
      (the run's thread), never from a thread of the plugin's.
    """

    command: CommandInfo
    run_id: int
    transition: str
    source: str
    target: str
    warn: Callable[[str], None] = field(default=_nothing, repr=False, compare=False)

    # the command's fields, read through the run
    @property
    def plan(self) -> str:
        return self.command.plan

    @property
    def plan_file(self) -> str:
        return self.command.plan_file

    @property
    def operator(self) -> str:
        return self.command.operator

    @property
    def host(self) -> str:
        return self.command.host

    @property
    def database(self) -> str:
        return self.command.database

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.command.settings

    @property
    def options(self) -> Mapping[str, Any]:
        return self.command.options

    def mask(self, text: str) -> str:
        return self.command.mask(text)


@dataclass(frozen=True)
class RunEvent:
    """An event of a run's audit trail, as the operator is told it (masked).

    - `kind`: `state` (the run changed status: `status` is the new one: `prechecking`,
      `awaiting_approval`, `applying`, `verifying`, `succeeded`, `failed`, `undoing`,
      `undone`, `undo_failed`, `interrupted`), `step`, `undo`, `check`, `approval`,
      `lock`, `hook` (see `migrator.state.EventKind` and `EventStatus`).
    - `step`: the step or check it is about, if any.
    - `detail`: what the trail keeps of it: plain JSON data (a check's `actual`,
      `expected`, `detail` and `differences`; a failed step's `error`; a state's `from`
      and `reason`).
    - `settle`: for a state that leaves the plan waiting on someone (`undo_failed`,
      `interrupted`, `failed`; `awaiting_approval` when a person is asked at a terminal,
      not when `--yes` approves at once), the command that settles it.
    - `at`: when it was told (seconds since the epoch).

    An event written in a step's transaction is told when it is written: if the
    transaction then rolls back (the step failed), the failure is told after it.
    """

    kind: str
    status: str
    step: str | None
    detail: Mapping[str, Any]
    settle: str | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class ProgressReport:
    """How far a long step (a backfill) is, told after each batch and each change of what
    it waits for.

    - `step`: the step's name; `rows_done`: rows walked so far (with those of earlier runs
      of the step it resumes); `rows_total`: its estimate of all there are (None unknown);
      `rows_written`: rows its statement wrote (None when it does not count them).
    - `batches`: batches this process committed for the step so far.
    - `rate`: rows a second over the last half minute or so (None before two samples).
    - `waiting`: what holds it now (`paused`, a lag query over its limit, ...), empty while
      it works.
    - `finished`: the step is over (its last report).
    """

    step: str
    rows_done: int
    rows_total: int | None
    rows_written: int | None
    batches: int
    rate: float | None
    waiting: str = ""
    finished: bool = False
    at: float = field(default_factory=time.time)


class PerCommand(Generic[T]):
    """What a reporting plugin keeps for each command under way (a notifier, a recorder, a
    trace): kept at `migrator_command_start`, found from any of its runs, forgotten at
    `migrator_command_end`. Keyed by the command's `CommandInfo`, which the core holds
    from start to end."""

    def __init__(self) -> None:
        self._kept: dict[int, T] = {}

    def keep(self, command: CommandInfo, state: T) -> None:
        self._kept[id(command)] = state

    def of(self, run: RunInfo) -> T | None:
        """What was kept for the command `run` belongs to (None: nothing was)."""
        return self._kept.get(id(run.command))

    def end(self, command: CommandInfo) -> T | None:
        """What was kept for `command`, forgotten now."""
        return self._kept.pop(id(command), None)
