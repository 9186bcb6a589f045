"""The gates of a rollout: a wave's `approval` and the plan's own approvals (the signals
that stop a rollout are `rollout.Stopping`).

A wave with `approval: true` is asked like a transition's approval gate: `--yes`
approves it; on a terminal the operator is asked; without one the rollout stops before
the wave (exit 1: pass --yes). The plan's own approval gates are each target's `migrator
apply`'s: with `--yes` every child gets `--yes`; on a terminal without it the operator
is asked ONCE, before the first target, for the whole rollout (and every child then gets
`--yes`); without a terminal nothing is passed, so each child declines (exit 1): the
canary's refusal stops the rollout.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from migrator.api.context import Context
from migrator.plan.model import Plan

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Verdict:
    approved: bool
    why: str = ""


def wave_approval(
    ctx: Context, fleet: str, wave: str, count: int, ask: Callable[[str], bool]
) -> Verdict:
    """Whether wave `wave` of `count` targets may start."""
    if ctx.assume_yes:
        return Verdict(True, "--yes")
    if ctx.interactive:
        if ask(f"Start wave {wave} ({count} targets) of fleet {fleet}?"):
            return Verdict(True, "terminal")
        return Verdict(False, f"wave {wave} was not approved at the terminal")
    return Verdict(
        False, f"wave {wave} needs approval: not approved, no terminal to ask on; pass --yes"
    )


def needs_approval(plan: Plan) -> list[str]:
    """The plan's transitions with an approval gate."""
    return [t.name for t in plan.transitions if t.approval and t.reverts is None]


def plan_approval(ctx: Context, plan: Plan, ask: Callable[[str], bool]) -> Verdict | None:
    """Whether to pass `--yes` to every target's apply (None: pass nothing, each target's
    apply decides, and without a terminal declines)."""
    gated = needs_approval(plan)
    if ctx.assume_yes:
        return Verdict(True, "--yes")
    if not gated or not ctx.interactive:
        return None
    question = (
        f"Plan {plan.name} has approval gates ({', '.join(gated)}): approve it for every "
        "target of this rollout?"
    )
    if ask(question):
        return Verdict(True, "terminal")
    return Verdict(False, f"plan {plan.name}'s approval was declined at the terminal")
