"""The plugin API: every hook migrator calls, with when, what it gets and what it returns.

A plugin is a module (or object) with functions decorated by `migrator.hookimpl`,
named like the specifications below, registered under the `migrator` entry-point
group:

    [project.entry-points.migrator]
    mything = "migrator_mything"

A hook implementation may accept any subset of a specification's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pluggy

if TYPE_CHECKING:
    from migrator.plugin.context import CheckOutcome, StepContext
    from migrator.plugin.flags import FlagStore
    from migrator.plugin.registry import ActionSpec, CheckSpec, OptionSpec, PlanKeySpec
    from migrator.plugin.reporting import CommandInfo, ProgressReport, RunEvent, RunInfo

F = TypeVar("F", bound=Callable[..., Any])
_marker = pluggy.HookspecMarker("migrator")
hookspec = cast(Callable[[F], F], _marker)
first_result_hookspec = _marker(firstresult=True)
"""For "who handles this?" hooks: the first non-None result wins."""
hookimpl = cast(Callable[[F], F], pluggy.HookimplMarker("migrator"))
"""Marks a plugin's hook implementations: `@migrator.hookimpl` (typed: they keep their
signatures)."""


@hookspec
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    """Register the step kinds this plugin provides.

    Called once when the plugin manager builds its registry, before any plan is
    loaded. Call `register(ActionSpec(...))` once per action key. Registering a
    key that another plugin already registered is an error naming both plugins.
    Returns nothing.
    """


@hookspec
def migrator_register_checks(register: Callable[[CheckSpec], None]) -> None:
    """Register the check kinds this plugin provides.

    Called once when the plugin manager builds its registry, before any plan is
    loaded. Call `register(CheckSpec(...))` once per check key. Registering a
    key that another plugin already registered is an error naming both plugins.
    Returns nothing.
    """


@hookspec
def migrator_register_plan_keys(register: Callable[[PlanKeySpec], None]) -> None:
    """Register the top-level plan keys this plugin reads (`notify:`).

    Called once when the registry is built. Call `register(PlanKeySpec(...))` once per
    key; a key of migrator's own or another plugin's is an error naming both. The value
    a plan gives is validated with the plan and handed to the reporting hooks in
    `CommandInfo.settings`. Returns nothing.
    """


@hookspec
def migrator_register_options(register: Callable[[OptionSpec], None]) -> None:
    """Register the command-line options this plugin adds to `apply`, `rollback` and
    `resume` (`--metrics-file`).

    Called once when the registry is built. Call `register(OptionSpec(...))` once per
    option; an option of migrator's own or another plugin's is an error naming both.
    The values given reach the reporting hooks in `CommandInfo.options`. Returns nothing.
    """


@first_result_hookspec
def migrator_flag_store(location: str, plan_file: str | None) -> FlagStore | None:
    """Who keeps flags at `location`? The `store` of a `flag` step or `flag_is` check.

    Called each time a flag is read or written. `location` is as the plan wrote it
    (`table` by default: the `migrator.flags` table; `file:flags.json` for the
    built-in file store); `plan_file` is the plan's path, for relative locations.
    Returns a `FlagStore`, or None when this plugin does not handle `location`.
    Stops at the first non-None result.
    """


@hookspec
def migrator_run_start(plan: str, run_id: int, transition: str, operator: str) -> None:
    """A run has taken the plan's lock and is about to run its pre-checks.

    `plan` is the plan's name, `run_id` the run's id in `migrator.runs`,
    `transition` the transition's name. Returns nothing; an exception here is
    recorded and ignored.
    """


@hookspec
def migrator_run_end(plan: str, run_id: int, transition: str, status: str) -> None:
    """A run has finished, whatever its outcome, just before it releases the lock.

    `status` is the run's final state (`succeeded`, `undone`, `undo_failed`,
    `failed`). Returns nothing; an exception here is recorded and ignored.
    """


@hookspec
def migrator_before_step(ctx: StepContext, step: str, action: str, config: Any) -> None:
    """A step is about to run.

    In a `migrator rollback` that undoes a run's steps, each undo is such a step, with
    `action` prefixed `undo:` (`undo:sql`). The automatic undo after a failed step or
    post-check calls no step hooks: its undos are in the audit trail (kind `undo`).
    `step` is the step's display name, `action` its action key, `config` the
    validated step model. Returns nothing; an exception here is recorded and
    ignored.
    """


@hookspec
def migrator_after_step(
    ctx: StepContext, step: str, action: str, config: Any, seconds: float
) -> None:
    """A step finished without error after `seconds`. Returns nothing."""


@hookspec
def migrator_on_step_error(
    ctx: StepContext, step: str, action: str, config: Any, error: BaseException
) -> None:
    """A step raised `error`; the engine is about to undo the run. Returns nothing."""


@hookspec
def migrator_after_check(ctx: StepContext, check: str, outcome: CheckOutcome) -> None:
    """A check was evaluated; `outcome` holds actual beside expected. Returns nothing."""


# -- telling the world: notifications, metrics, traces --------------------------------------
#
# The hooks below are called on the thread that runs the command, and wait for the
# plugin: a plugin that calls out (an HTTP receiver, a gateway) bounds its own time, or
# hands the work to a thread of its own. An exception in them is recorded in the run's
# trail (kind `hook`, status `failed`) when there is one, else told on stderr, and never
# changes what the run does or its exit code. None of them is called for `migrator plan`,
# `rollback --dry-run` or `rehearse`'s scratch runs: nothing happened to the real database.


@hookspec
def migrator_command_start(command: CommandInfo) -> None:
    """`apply`, `rollback` or `resume` has loaded its plan and reached its database, and
    is about to take the plan's lock. A `migrator.plugin.UsageError` raised here (an
    option's value the plugin cannot use) stops the command with exit 2 before anything
    runs; any other exception is told and ignored. Returns nothing.
    """


@hookspec
def migrator_command_end(command: CommandInfo, exit_code: int, error: str | None) -> None:
    """The command is over, with `exit_code` (see the exit codes of SPEC.md: 0 done, 1 a
    check failed and the run was undone, 3 an undo failed, 4 locked, 5 the database
    unreachable, 6 a bug, 130 and 143 stopped by a signal); `error`: the message it ends
    with, masked, if it ends with one. Called once per `migrator_command_start`, whatever
    happened in between. Returns nothing.
    """


@hookspec
def migrator_event(run: RunInfo, event: RunEvent) -> None:
    """An event was recorded in a run's audit trail (and told to the operator): every
    state of the run (its start: kind `state`, status `prechecking`; a resume's:
    status `applying` or `undoing`), step, undo, check, approval and lock event,
    masked. `event.settle` names the command that settles a run left waiting. Returns
    nothing.
    """


@hookspec
def migrator_progress(run: RunInfo, progress: ProgressReport) -> None:
    """A long step (a backfill) finished a batch, or what it waits for changed, or it
    ended (`progress.finished`). Called from the step's thread between its batches: keep
    it short. Returns nothing.
    """
