"""What a rehearsal stands in, so that it changes nothing but its scratch database.

The actions and checks whose spec `reaches_outside` (`http`, `command`) are not called
(`rehearsal_registry`), and the actions whose spec has a `stand_in` (`wait`, which lets no
time pass on a copy) run it instead of `run`; flags kept outside the database are read
from their real store but written only in memory (`FlagOverlay`); checks are evaluated
once, without `wait` or `soak`, and never stop a transition (`once_each`). `stood_in`,
`standing_in` and `waiting` name what was stood in, for the report.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pluggy

from migrator.plan.model import Plan
from migrator.plugin.context import CheckOutcome, StepContext
from migrator.plugin.flags import MISSING
from migrator.plugin.registry import Registry

if TYPE_CHECKING:
    from migrator.plugin.manager import PluginManager

TABLE_FLAGS = "table"
"""The flag store location of table `migrator.flags`, which the scratch database holds."""

_first = pluggy.HookimplMarker("migrator")(tryfirst=True)


# -- flags outside the database -----------------------------------------------------------


class FlagOverlay:
    """Flags in stores outside the database: read from the real store, written here only.

    Registered first for `migrator_flag_store` during a rehearsal, for every location
    but the `migrator.flags` table (which is the scratch database's own).
    """

    def __init__(self, pm: PluginManager) -> None:
        self.pm = pm
        self.values: dict[tuple[str, str], Any] = {}  # MISSING: deleted
        self.real: dict[str, Any] = {}

    @_first
    def migrator_flag_store(self, location: str, plan_file: str | None) -> Any:
        if location == TABLE_FLAGS:
            return None
        real = self.pm.subset_hook_caller("migrator_flag_store", remove_plugins=[self])(
            location=location, plan_file=plan_file
        )
        if real is None:
            return None
        self.real[location] = real
        return _OverlayStore(self, location)

    def effective(self, values: dict[tuple[str, str], Any], ctx: StepContext) -> dict[str, Any]:
        """`location:name` -> value of every flag this overlay touched, as of `values`."""
        shown: dict[str, Any] = {}
        for key in sorted(set(self.values) | set(values)):
            location, name = key
            value = values.get(key, self.real[location].get(ctx, name))
            if value is not MISSING:
                shown[f"{location}:{name}"] = value
        return shown


class _OverlayStore:
    def __init__(self, overlay: FlagOverlay, location: str) -> None:
        self.overlay = overlay
        self.location = location

    def get(self, ctx: StepContext, name: str) -> Any:
        key = (self.location, name)
        if key in self.overlay.values:
            return self.overlay.values[key]
        return self.overlay.real[self.location].get(ctx, name)

    def set(self, ctx: StepContext, name: str, value: Any) -> None:
        self.overlay.values[(self.location, name)] = value

    def delete(self, ctx: StepContext, name: str) -> None:
        self.overlay.values[(self.location, name)] = MISSING


# -- steps and checks that are not called -------------------------------------------------


def _not_called(ctx: StepContext, step: Any) -> Any:
    ctx.say(f"  {step.action_key}: not called on a rehearsal")
    return {"rehearsal": "not called"}


def _not_undone(ctx: StepContext, step: Any, memo: Any) -> None:
    return None


def _not_asked(ctx: StepContext, check: Any) -> CheckOutcome:
    return CheckOutcome(True, "not asked", "-", "a rehearsal asks nothing outside the database")


def rehearsal_registry(registry: Registry) -> Registry:
    """`registry` with the actions and checks that reach outside the database stood in."""
    copy = replace(
        registry,
        actions=dict(registry.actions),
        checks=dict(registry.checks),
        providers=dict(registry.providers),
    )
    for key, action in registry.actions.items():
        if action.reaches_outside:
            copy.actions[key] = replace(
                action, run=_not_called, undo=_not_undone, transactional=True
            )
        elif action.stand_in is not None:
            copy.actions[key] = replace(action, run=action.stand_in)
    for key, check in registry.checks.items():
        if check.reaches_outside:
            copy.checks[key] = replace(check, evaluate=_not_asked)
    return copy


def stood_in(plan: Plan, registry: Registry) -> list[str]:
    """The steps and checks of `plan` that a rehearsal does not call."""
    found: list[str] = []
    for t in plan.transitions:
        where = "" if plan.kind == "hotfix" else f" of {t.name}"
        for i, step in enumerate(t.steps):
            if registry.actions[step.action_key].reaches_outside:
                found.append(f"step '{step.label(i)}' ({step.action_key}){where}")
        for phase, checks in (("pre", t.pre_checks), ("post", t.post_checks)):
            for i, check in enumerate(checks):
                if registry.checks[check.check_key].reaches_outside:
                    found.append(f"{phase}-check '{check.label(i)}' ({check.check_key}){where}")
    return found


def standing_in(plan: Plan, registry: Registry) -> list[str]:
    """The steps of `plan` whose action's stand-in a rehearsal runs instead (a `wait`)."""
    found: list[str] = []
    for t in plan.transitions:
        where = "" if plan.kind == "hotfix" else f" of {t.name}"
        for i, step in enumerate(t.steps):
            spec = registry.actions[step.action_key]
            if spec.stand_in is not None and not spec.reaches_outside:
                found.append(f"step '{step.label(i)}' ({spec.describe(step)}){where}")
    return found


def waiting(plan: Plan) -> list[str]:
    """The checks of `plan` with a `wait` or a `soak`, which a rehearsal evaluates once."""
    found: list[str] = []
    for t in plan.transitions:
        where = "" if plan.kind == "hotfix" else f" of {t.name}"
        for phase, checks in (("pre", t.pre_checks), ("post", t.post_checks)):
            for i, check in enumerate(checks):
                if check.wait is not None or check.soak is not None:
                    found.append(f"{phase}-check '{check.label(i)}'{where}")
    return found


def once_each(plan: Plan) -> Plan:
    """`plan` with every check evaluated once, and never stopping a transition.

    Nothing changes a scratch database but the rehearsal itself, so a check that fails
    now would fail after any wait, and a soak would only repeat the same answer. And a
    check asks about data (which a schema-only copy lacks) or the world outside (which
    the copy's steps never reached): on a rehearsal a failed check is reported, and the
    transition goes on (`on_fail: warn`), so that every undo is still rehearsed.
    """

    def plain(checks: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            c.model_copy(update={"wait": None, "soak": None, "on_fail": "warn"}) for c in checks
        )

    transitions = tuple(
        replace(t, pre_checks=plain(t.pre_checks), post_checks=plain(t.post_checks))
        for t in plan.transitions
    )
    return replace(plan, transitions=transitions)
