"""Checks that need the whole plan: the phase graph, names, references; and lint warnings."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from migrator.db.checksql import sql_problems, words
from migrator.errors import Problem
from migrator.nested import strings_in
from migrator.plan.interpolate import InterpolationError, references
from migrator.plan.model import Plan, Transition
from migrator.plan.source import PathKey, SourceDocument, dotted
from migrator.plugin.registry import Registry


def lint_document(doc: SourceDocument) -> list[Problem]:
    """Errors found in the raw document, whatever else is wrong with it.

    These run before and beside model validation so that a plan with a bad
    field and an undeclared phase reports both at once. The raw data may have
    any shape here: anything not shaped as expected is left to the models.
    """
    data = doc.data if isinstance(doc.data, dict) else {}
    problems: list[Problem] = []
    if data.get("kind") != "hotfix":
        problems += _phase_graph(data, doc)
        transitions = _items(data.get("transitions"))
        problems += _transition_names(transitions, doc)
        for i, t in transitions:
            problems += _step_names(_items(t.get("steps")), ("transitions", i), doc)
    else:
        problems += _step_names(_items(data.get("steps")), (), doc)
    variables = data.get("vars")
    declared = {str(name) for name in variables} if isinstance(variables, dict) else set()
    problems += _references(declared, doc)
    return problems


def lint_plan(
    plan: Plan, registry: Registry, connection: Any = None, extra: Any = None
) -> list[Problem]:
    """Warnings about a valid plan: things that work but that a reviewer should see; and
    the SQL its checks may not send (errors). `connection` and `extra`: see `lint_steps`."""
    from migrator.lint.runner import lint_steps

    return (
        _check_sql(plan, registry, plan.source)
        + lint_steps(plan, registry, connection, extra)
        + _warnings(plan, registry, plan.source)
    )


def _check_sql(plan: Plan, registry: Registry, doc: SourceDocument) -> list[Problem]:
    """Every SQL text a check sends, held to `migrator.db.checksql` (a check cannot commit,
    change its role, run a program...)."""
    from migrator.plan.expect import EqualsQuery

    problems: list[Problem] = []
    known = frozenset(str(name) for name in plan.variables)
    for t in plan.transitions:
        for phase in ("pre_checks", "post_checks"):
            for i, check in enumerate(getattr(t, phase)):
                spec = registry.checks[check.check_key]
                texts = list(spec.sql_texts(check)) if spec.sql_texts else []
                if isinstance(check.expectation, EqualsQuery):
                    texts.append((("expect", "equals_query"), check.expectation.sql))
                for field, sql in texts:
                    for problem in sql_problems(sql):
                        problems.append(
                            doc.problem(
                                (*t.path, phase, i, *field),
                                f"check '{check.label(i)}' may not send this SQL: {problem}",
                            )
                        )
                    problems += _unbound((*t.path, phase, i, *field), sql, known, doc)
    return problems


def _unbound(path: PathKey, sql: str, known: frozenset[str], doc: SourceDocument) -> list[Problem]:
    """A check's `:name` parameters that no plan variable defines (the check fails)."""
    from migrator.lint.steps import RULES, UNDEFINED, unbound

    safe = next(r.safe for r in RULES if r.id == UNDEFINED)
    problems = []
    for statement in words(sql):
        for w, message in unbound(statement, known, "check"):
            pos = doc.position_in(path, w.at)
            text = f"{message}; safe way: {safe}"
            problem = Problem(doc.file, pos.line, pos.column, dotted(path), text, "warning")
            problems.append(replace(problem, rule=UNDEFINED))
    return problems


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """The mappings of a list, with their indexes; anything else is skipped."""
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _phase_graph(data: dict[str, Any], doc: SourceDocument) -> list[Problem]:
    phases = data.get("phases")
    if not isinstance(phases, list) or not phases or not all(isinstance(p, str) for p in phases):
        return []
    problems: list[Problem] = []
    first_index: dict[str, int] = {}
    for i, phase in enumerate(phases):
        if phase in first_index:
            problems.append(doc.problem(("phases", i), f"phase '{phase}' is declared twice"))
        first_index.setdefault(phase, i)
    edges: list[tuple[str, str]] = []
    for i, t in _items(data.get("transitions")):
        source, target = t.get("from"), t.get("to")
        for end, key in ((source, "from"), (target, "to")):
            if isinstance(end, str) and end not in first_index:
                problems.append(
                    doc.problem(
                        ("transitions", i, key),
                        f"phase '{end}' is not declared in phases ({', '.join(phases)})",
                    )
                )
        if isinstance(source, str) and isinstance(target, str):
            edges.append((source, target))
            if source == target:
                problems.append(
                    doc.problem(
                        ("transitions", i, "to"), f"the transition goes from '{source}' to itself"
                    )
                )
    initial = phases[0]
    reachable = {initial}
    queue = deque([initial])
    while queue:
        here = queue.popleft()
        for source, target in edges:
            if source == here and target not in reachable:
                reachable.add(target)
                queue.append(target)
    for phase, i in first_index.items():
        if phase not in reachable:
            problems.append(
                doc.problem(
                    ("phases", i),
                    f"phase '{phase}' cannot be reached from the initial phase '{initial}' "
                    "by any transition",
                )
            )
    return problems


def _transition_names(
    transitions: list[tuple[int, dict[str, Any]]], doc: SourceDocument
) -> list[Problem]:
    return _duplicates(
        [(("transitions", i, "name"), t.get("name")) for i, t in transitions], "transition", doc
    )


def _step_names(
    steps: list[tuple[int, dict[str, Any]]], parent: PathKey, doc: SourceDocument
) -> list[Problem]:
    return _duplicates(
        [((*parent, "steps", i, "name"), s.get("name")) for i, s in steps], "step", doc
    )


def _duplicates(named: list[tuple[PathKey, Any]], what: str, doc: SourceDocument) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[str, PathKey] = {}
    for path, name in named:
        if not isinstance(name, str):
            continue
        if name in first:
            line = doc.position(first[name]).line
            problems.append(
                doc.problem(path, f"{what} name '{name}' is used twice (first at line {line})")
            )
        else:
            first[name] = path
    return problems


def _references(variables: set[str], doc: SourceDocument) -> list[Problem]:
    """Every `${...}` must be well formed and name a plan variable (env is checked at run time)."""
    problems: list[Problem] = []
    for path, value in strings_in(doc.data):
        try:
            refs = list(references(value))
        except InterpolationError as exc:
            problems.append(doc.problem(path, str(exc)))
            continue
        for ref in refs:
            if not ref.env and ref.name not in variables:
                declared = ", ".join(sorted(variables)) or "none"
                problems.append(
                    doc.problem(
                        path,
                        f"'{ref.text}' names no plan variable (declared in vars: {declared})",
                    )
                )
    return problems


def _reversible(plan: Plan, t: Transition) -> bool:
    if plan.kind == "hotfix":
        return t.reverts is None
    return any(o.source == t.target and o.target == t.source for o in plan.transitions)


def _warnings(plan: Plan, registry: Registry, doc: SourceDocument) -> list[Problem]:
    """The rules of `migrator.lint.transitions`, which need the whole plan's graph."""
    from migrator.lint.runner import ignore_problems, known_rules
    from migrator.lint.transitions import IRREVERSIBLE, NO_POST_CHECKS, NO_UNDO

    problems: list[Problem] = []
    known = known_rules(registry)
    for t in plan.transitions:
        if t.reverts is not None:
            continue
        problems += ignore_problems(t.ignore, t.path, known, doc)
        if not t.post_checks and NO_POST_CHECKS not in (t.ignore or ()):
            where = (*t.path, "name") if t.path else ()
            problems.append(
                _warning(
                    doc,
                    where,
                    f"transition '{t.name}' has no post-checks: nothing confirms that it worked",
                    NO_POST_CHECKS,
                )
            )
        if not _reversible(plan, t):
            continue
        for i, step in enumerate(t.steps):
            where = (*t.path, "steps", i)
            label = step.label(i)
            ignored = step.ignore or ()
            if step.rollback == "irreversible" and IRREVERSIBLE not in ignored:
                problems.append(
                    _warning(
                        doc,
                        (*where, "rollback"),
                        f"step '{label}' is irreversible, but the plan has a way back "
                        f"from '{t.target}' to '{t.source}'",
                        IRREVERSIBLE,
                    )
                )
            elif (
                step.rollback is None
                and registry.actions[step.action_key].undo is None
                and NO_UNDO not in ignored
            ):
                problems.append(
                    _warning(
                        doc,
                        where,
                        f"step '{label}' cannot be undone: {step.action_key} has no default undo; "
                        "give it a rollback, or say rollback: irreversible",
                        NO_UNDO,
                    )
                )
    return problems


def _warning(doc: SourceDocument, where: PathKey, message: str, rule: str) -> Problem:
    return replace(doc.problem(where, message, severity="warning"), rule=rule)
