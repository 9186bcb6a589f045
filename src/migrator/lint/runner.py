"""Linting a valid plan's steps: every rule over every step (its undo steps too), each
finding placed at the FILE:LINE:COL of the text it is about, a step's `ignore` applied."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from migrator.errors import Problem
from migrator.lint.findings import LintFinding, LintRule, PathKey
from migrator.lint.linted import LintedStep, RuleSet

if TYPE_CHECKING:
    from migrator.plan.model import Plan, Transition
    from migrator.plan.source import SourceDocument
    from migrator.plugin.registry import ActionSpec, Registry


__all__ = [
    "LintedStep",
    "RuleSet",
    "StepLinter",
    "findings_by_step",
    "ignore_problems",
    "known_rules",
    "lint_steps",
    "rule_sets",
]


def rule_sets() -> tuple[RuleSet, ...]:
    """The core's modules of rules, in the order their findings are listed."""
    from migrator.lint import ddl, steps, transitions

    return (steps, ddl, transitions)


class StepLinter(Protocol):
    """Findings made for all of a plan's steps at once (squawk: one program call per
    plan), added to each step's own."""

    def prepare(self, steps: Sequence[LintedStep]) -> None: ...

    def findings(
        self, index: int, step: LintedStep, native: Iterable[LintFinding]
    ) -> list[LintFinding]: ...

    def problems(self, file: str) -> list[Problem]: ...


def known_rules(registry: Registry) -> dict[str, LintRule]:
    """Every rule id a finding may carry and an `ignore` may name."""
    from migrator.lint import squawk

    known: dict[str, LintRule] = {r.id: r for r in squawk.RULES}  # migrator's own win
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


def lint_steps(
    plan: Plan, registry: Registry, connection: Any = None, extra: StepLinter | None = None
) -> list[Problem]:
    """The findings of every rule in every step of `plan`, as warnings pointing into its
    file; with `connection` (a read-only connection to the target), the actions' checks
    of the database too; with `extra` (squawk), its findings as well."""
    whole = _Plan(
        registry,
        known_rules(registry),
        plan.source,
        frozenset(str(name) for name in plan.variables),
        connection,
    )
    todo: list[tuple[LintedStep, PathKey]] = []
    for t in plan.transitions:
        if t.reverts is not None:
            continue
        for i, step in enumerate(t.steps):
            where = (*t.path, "steps", i)
            label = step.label(i)
            todo.append((_linted(whole, step, label, t, None), where))
            undos = step.rollback if isinstance(step.rollback, list) else []
            for j, undo in enumerate(undos):
                at = (*where, "rollback", j)
                if at not in plan.source.values:  # `rollback:` a mapping, one step
                    at = (*where, "rollback")
                todo.append((_linted(whole, undo, undo.label(j), t, label), at))
    if extra is not None:
        extra.prepare([linted for linted, _ in todo])
    problems: list[Problem] = []
    for n, (linted, where) in enumerate(todo):
        kept = _found(whole, linted, n, extra)
        problems += [_problem(f, where, linted.key, whole.known, whole.doc) for f in kept]
        ignore = getattr(linted.step, "ignore", None)
        problems += ignore_problems(ignore, where, whole.known, whole.doc, linted.transition.path)
    return problems + (extra.problems(plan.source.file) if extra is not None else [])


def findings_by_step(plan: Plan, registry: Registry) -> dict[tuple[str, str], list[LintFinding]]:
    """The findings left after `ignore` in each step of `plan`, by (transition, step label);
    those of a step's `rollback` steps under (transition, "undo " + the step's label), as a
    rehearsal's trace names the undo it watches (`migrator.rehearse.trace`)."""
    whole = _Plan(
        registry, known_rules(registry), plan.source,
        frozenset(str(name) for name in plan.variables), None,
    )  # fmt: skip
    found: dict[tuple[str, str], list[LintFinding]] = {}
    for t in plan.transitions:
        if t.reverts is not None:
            continue
        for i, step in enumerate(t.steps):
            label = step.label(i)
            found[(t.name, label)] = _found(whole, _linted(whole, step, label, t, None))
            undos = step.rollback if isinstance(step.rollback, list) else []
            found[(t.name, f"undo {label}")] = [
                f
                for j, undo in enumerate(undos)
                for f in _found(whole, _linted(whole, undo, undo.label(j), t, label))
            ]
    return found


def _linted(whole: _Plan, step: Any, label: str, t: Transition, undo_of: str | None) -> LintedStep:
    spec = whole.registry.actions[step.action_key]
    return LintedStep(
        step=step,
        key=step.action_key,
        label=label,
        transition=t,
        spec=spec,
        in_transaction=spec.in_transaction(step),
        texts=tuple(spec.sql_texts(step)) if spec.sql_texts else (),
        variables=whole.variables,
        undo_of=undo_of,
        registry=whole.registry,
    )


def _found(
    whole: _Plan, linted: LintedStep, index: int = -1, extra: StepLinter | None = None
) -> list[LintFinding]:
    """What every rule finds in one step (and `extra`, the plan's step number `index`),
    less what its `ignore` names."""
    step, spec = linted.step, linted.spec
    found: list[LintFinding] = []
    for module in rule_sets():
        found += module.check(linted)
    for item in spec.lint(step) if spec.lint else []:
        found.append(
            item if isinstance(item, LintFinding) else LintFinding(f"{spec.key}-lint", item)
        )
    if whole.connection is not None and spec.lint_database is not None:
        found += _database_findings(whole.connection, spec, step)
    if extra is not None:  # squawk's rules that migrator has too are migrator's to judge
        found += [
            f
            for f in extra.findings(index, linted, found)
            if f.rule not in whole.known or whole.known[f.rule].origin != "migrator"
        ]
    ignored = _ignored(step)
    return [f for f in _unique(found) if f.rule not in ignored]


def _database_findings(connection: Any, spec: ActionSpec, step: Any) -> list[LintFinding]:
    """The action's findings from the target database, in a savepoint: a query that fails
    (a table the plan creates earlier is not there yet) spoils no other step's."""
    assert spec.lint_database is not None
    savepoint = connection.begin_nested()
    try:
        found = list(spec.lint_database(connection, step))
    except Exception as error:  # a plugin's query: whatever it raises, lint goes on
        savepoint.rollback()
        reason = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
        return [LintFinding("", f"could not read the database for this step: {reason}")]
    savepoint.commit()
    return found


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

    return Problem(
        doc.file, pos.line, pos.column, dotted(path), message, "warning", finding.rule or None
    )


def ignore_problems(
    ignore: Any,
    where: PathKey,
    known: dict[str, LintRule],
    doc: SourceDocument,
    transition: PathKey | None = None,
) -> list[Problem]:
    """Warnings about the `ignore` of the step at `where` (of the transition at `where`
    when `transition` is None; else the path of the step's transition): a rule id that
    names no rule, or a rule it cannot silence there (a transition's rule in a step's
    `ignore`, a step's rule in a transition's)."""
    from migrator.lint.transitions import WHOLE_TRANSITION
    from migrator.plan.source import dotted

    problems = []
    for i, rule in enumerate(ignore or ()):
        at = (*where, "ignore", i if isinstance(ignore, list) else rule)
        if rule not in known:
            message = f"ignore names no lint rule '{rule}'{_did_you_mean(rule, known)}"
        elif transition is not None and rule in WHOLE_TRANSITION:
            place = (
                f"the transition's `ignore` ({dotted((*transition, 'ignore'))})"
                if transition
                else "the plan's own `ignore` (at the top, beside `kind: hotfix`)"
            )
            message = (
                f"{rule} is about the transition as a whole: a step's ignore does not "
                f"silence it; put it in {place}"
            )
        elif transition is None and rule not in WHOLE_TRANSITION:
            message = (
                f"{rule} is found in steps: a transition's ignore does not silence it; put "
                "it in the `ignore` of the step it is about"
            )
        else:
            continue
        problems.append(doc.problem(at, message, severity="warning", key=True))
    return problems


def _did_you_mean(rule: str, known: dict[str, LintRule]) -> str:
    """`rule`'s nearest known id (letter case aside), and where they are all listed."""
    lowered = {r.lower(): r for r in known}
    near = difflib.get_close_matches(rule.lower(), list(lowered), n=1)
    hint = f"did you mean '{lowered[near[0]]}'? " if near else ""
    return f" ({hint}the rules are listed in docs/lint.md)"
