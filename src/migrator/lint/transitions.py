"""Lint rules over a transition as a whole, which `migrator.plan.lint` finds (they need the
plan's graph of transitions, not one step): a transition with no post-checks, a step
irreversible by design in a transition the plan has a way back from, a step with no undo.
Their ids let `ignore` and `validate --strict` treat them as every other rule: a step's
`ignore` silences the two about a step, a transition's `ignore` the one about it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from migrator.lint.findings import LintFinding, LintRule

if TYPE_CHECKING:
    from migrator.lint.linted import LintedStep

NO_POST_CHECKS = "no-post-checks"
IRREVERSIBLE = "irreversible-with-way-back"
NO_UNDO = "no-undo"

WHOLE_TRANSITION = frozenset({NO_POST_CHECKS})
"""The rules about a transition as a whole: its own `ignore` silences them (a hotfix's: the
plan's), a step's does not."""

RULES: tuple[LintRule, ...] = (
    LintRule(
        NO_POST_CHECKS,
        "a transition with no post-checks: nothing confirms that it worked",
        "add a post-check that the change is there (a `query` with `expect`)",
    ),
    LintRule(
        IRREVERSIBLE,
        "a step irreversible by design in a transition the plan has a way back from",
        "give the step a `rollback`, or keep what it destroys until a later contract "
        "transition with no way back",
    ),
    LintRule(
        NO_UNDO,
        "a step whose action has no default undo and that has no `rollback`",
        "give it a `rollback`, or say `rollback: irreversible`",
    ),
)


def check(step: LintedStep) -> Iterator[LintFinding]:
    """Nothing per step: `migrator.plan.lint` finds these with the whole plan in hand."""
    return iter(())
