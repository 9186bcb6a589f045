"""Linting a valid plan's steps: every rule over every step (its undo steps too), each
finding placed at the FILE:LINE:COL of the text it is about, a step's `ignore` applied."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.errors import Problem
from migrator.lint.findings import LintFinding, LintRule, PathKey
from migrator.lint.linted import LintedStep, RuleSet

if TYPE_CHECKING:
    from migrator.plan.model import Plan, Transition
    from migrator.plan.source import SourceDocument
    from migrator.plugin.registry import Registry


__all__ = ["LintedStep", "RuleSet", "known_rules", "lint_steps", "rule_sets"]


def rule_sets() -> tuple[RuleSet, ...]:
    """The core's modules of rules, in the order their findings are listed."""
    from migrator.lint import steps, transitions

    return (steps, transitions)


def known_rules(registry: Registry) -> dict[str, LintRule]:
    """Every rule id a finding may carry and an `ignore` may name."""
    known: dict[str, LintRule] = {}
    for module in rule_sets():
        known.update((r.id, r) for r in module.RULES)
    for spec in registry.actions.values():
        known.update((r.id, r) for r in spec.rules)
    return known


@dataclass(frozen=True)
class _Plan:
    """What every step of one plan is linted with."""

    registry: Registry
    known: dict[str, LintRule]
    doc: SourceDocument
    variables: frozenset[str]
    connection: Any


def lint_steps(plan: Plan, registry: Registry, connection: Any = None) -> list[Problem]:
    """The findings of every rule in every step of `plan`, as warnings pointing into its
    file; with `connection` (a read-only connection to the target), the actions' checks
    of the database too."""
    whole = _Plan(
        registry,
        known_rules(registry),
        plan.source,
        frozenset(str(name) for name in plan.variables),
        connection,
    )
    problems: list[Problem] = []
    for t in plan.transitions:
        if t.reverts is not None:
            continue
        for i, step in enumerate(t.steps):
            where = (*t.path, "steps", i)
            label = step.label(i)
            problems += _lint_one(whole, step, label, t, where, None)
            undos = step.rollback if isinstance(step.rollback, list) else []
            for j, undo in enumerate(undos):
                problems += _lint_one(whole, undo, undo.label(j), t, (*where, "rollback", j), label)
    return problems


def _lint_one(
    whole: _Plan, step: Any, label: str, t: Transition, where: PathKey, undo_of: str | None
) -> list[Problem]:
    spec = whole.registry.actions[step.action_key]
    linted = LintedStep(
        step=step,
        key=step.action_key,
        label=label,
        transition=t,
        spec=spec,
        in_transaction=spec.in_transaction(step),
        texts=tuple(spec.sql_texts(step)) if spec.sql_texts else (),
        variables=whole.variables,
        undo_of=undo_of,
    )
    found: list[LintFinding] = []
    for module in rule_sets():
        found += module.check(linted)
    for item in spec.lint(step) if spec.lint else []:
        found.append(
            item if isinstance(item, LintFinding) else LintFinding(f"{spec.key}-lint", item)
        )
    if whole.connection is not None and spec.lint_database is not None:
        found += spec.lint_database(whole.connection, step)
    ignored = _ignored(step)
    kept = [f for f in _unique(found) if f.rule not in ignored]
    return [_problem(f, where, step.action_key, whole.known, whole.doc) for f in kept] + (
        _unknown_ignores(step, where, whole.known, whole.doc)
    )


def _ignored(step: Any) -> frozenset[str]:
    return frozenset(getattr(step, "ignore", None) or ())


def _unique(found: Sequence[LintFinding]) -> list[LintFinding]:
    """One finding per rule and place (migrator's and squawk's rule of one id agree)."""
    seen: set[tuple[str, PathKey, int | None]] = set()
    out = []
    for f in found:
        if (f.rule, f.path, f.offset) not in seen:
            seen.add((f.rule, f.path, f.offset))
            out.append(f)
    return out


def _problem(
    finding: LintFinding, where: PathKey, key: str, known: dict[str, LintRule], doc: SourceDocument
) -> Problem:
    path = (*where, *finding.path) if finding.path else (*where, key)
    if finding.offset is not None and finding.path:
        pos = doc.position_in(path, finding.offset)
    else:
        pos = doc.position(path)
    rule = known.get(finding.rule)
    safe = finding.safe or (rule.safe if rule else "")
    message = f"{finding.message}; safe way: {safe}" if safe else finding.message
    from migrator.plan.source import dotted

    return Problem(doc.file, pos.line, pos.column, dotted(path), message, "warning", finding.rule)


def _unknown_ignores(
    step: Any, where: PathKey, known: dict[str, LintRule], doc: SourceDocument
) -> list[Problem]:
    problems = []
    for i, rule in enumerate(getattr(step, "ignore", None) or ()):
        if rule not in known:
            names = ", ".join(sorted(known)) or "none"
            problems.append(
                doc.problem(
                    (*where, "ignore", i if isinstance(step.ignore, list) else rule),
                    f"ignore names no lint rule '{rule}' (rules: {names})",
                    severity="warning",
                )
            )
    return problems
