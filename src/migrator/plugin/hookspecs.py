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
    from migrator.plugin.registry import ActionSpec, CheckSpec

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
