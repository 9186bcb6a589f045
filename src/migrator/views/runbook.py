"""A plan as a runbook for people (`migrator docs`): the document, as JSON prints it.

`migrator.views.runbook_markdown` renders it as Markdown, `migrator.views.runbook_html`
that as a standalone HTML page.

Everything here is a pure function of the loaded plan and the registry that describes
its steps and checks (and of a rehearsal's document, when one is given: what each step
did on the scratch copy, `migrator.views.rehearsed`): no database, no clock, no
environment. Each step carries its lint findings (`migrator.lint`). Code is shown in the
language its action or check declares (`ActionSpec.language`). The SQL shown is the plan's
own text, with its `:name` parameters as written; `${env:NAME}` references are shown as
written and never resolved, so a runbook can be published without leaking a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrator.errors import Problem
from migrator.nested import strings_in
from migrator.plan.interpolate import InterpolationError, references
from migrator.plan.lint import lint_plan
from migrator.plan.model import Plan, Transition
from migrator.plan.source import dotted
from migrator.plugin.registry import Registry
from migrator.views.diagram import mermaid
from migrator.views.rehearsed import Rehearsal

# -- the runbook as data -------------------------------------------------------------------


def runbook(plan: Plan, registry: Registry, rehearsal: Rehearsal | None = None) -> dict[str, Any]:
    """The runbook of `plan` as a JSON-able document (what `--output json` prints): each
    step with its lint findings and, given a rehearsal of the plan, what it did there."""
    seen = _Seen(_findings(plan, registry), rehearsal)
    transitions = [_transition(plan, registry, t, seen) for t in plan.transitions]
    irreversible = [
        {"transition": t["name"], "step": s["name"]}
        for t in transitions
        for s in t["steps"]
        if s["undo"]["kind"] == "irreversible"
    ]
    return {
        "plan": plan.name,
        "kind": plan.kind,
        "file": plan.file,
        "description": plan.description,
        "phases": list(plan.phases),
        "initial_phase": plan.initial_phase,
        "variables": dict(plan.variables),
        "environment": _environment(plan),
        "highest_risk": max((t.risk for t in plan.transitions), key=_RISKS.index, default="low"),
        "irreversible_steps": irreversible,
        "rehearsal": rehearsal.file if rehearsal is not None else None,
        "diagram": mermaid(plan),
        "transitions": transitions,
    }


_RISKS = ["low", "medium", "high"]


def _environment(plan: Plan) -> list[str]:
    """The environment variables the plan reads with `${env:NAME}` (their names only)."""
    names: set[str] = set()
    for _, value in strings_in(plan.source.data):
        try:
            names |= {r.name for r in references(value) if r.env}
        except InterpolationError:
            continue
    return sorted(names)


def _way_back(plan: Plan, t: Transition) -> str | None:
    """The transition `migrator rollback` runs after `t` succeeded, if the plan has one."""
    for other in plan.transitions:
        if other.source == t.target and other.target == t.source and other.reverts is None:
            return other.name
    return None  # `migrator rollback` undoes the run's steps in reverse order


@dataclass(frozen=True)
class _Seen:
    """What is known of the steps besides the plan: lint findings, a rehearsal's trace."""

    findings: list[Problem]
    rehearsal: Rehearsal | None

    def of(self, t: Transition, index: int, label: str) -> dict[str, Any]:
        where = dotted((*t.path, "steps", index))
        lint = [  # in_undo: about the step's rollback, not its own text
            {
                "rule": p.rule,
                "line": p.line,
                "column": p.column,
                "message": p.message,
                "in_undo": p.path.startswith(where + ".rollback"),
            }
            for p in self.findings
            if p.path == where or p.path.startswith(where + ".")
        ]
        if self.rehearsal is None:
            return {"lint": lint, "rehearsal": None, "undo_rehearsal": None}
        return {
            "lint": lint,
            "rehearsal": self.rehearsal.trace(t.name, label),
            "undo_rehearsal": self.rehearsal.undo_trace(t.name, label),
        }


def _findings(plan: Plan, registry: Registry) -> list[Problem]:
    """What `validate` warns about the plan with a rule id (each is placed at the step, or
    the undo step, whose path it has)."""
    return [p for p in lint_plan(plan, registry) if p.rule is not None]


def _transition(plan: Plan, registry: Registry, t: Transition, seen: _Seen) -> dict[str, Any]:
    if t.reverts is not None:
        original = plan.transition(t.reverts)
        steps = [
            {
                "name": f"undo {s['name']}",
                "action": f"undo:{s['action']}",
                "describe": s["undo"]["text"],
                "language": s["undo"]["language"],
                "description": None,
                "risk": None,
                "timeout": None,
                "lock_timeout": None,
                "retries": 0,
                "lint": [],
                "rehearsal": s["undo_rehearsal"],
                "undo_rehearsal": None,
                "undo": {
                    "kind": "none",
                    "text": "the undo of a step is not undone",
                    "language": "",
                },
            }
            for s in reversed(
                [
                    {**_step(registry, i, s), **seen.of(original, i, s.label(i))}
                    for i, s in enumerate(original.steps)
                ]
            )
        ]
    else:
        steps = [
            {**_step(registry, i, s), **seen.of(t, i, s.label(i))} for i, s in enumerate(t.steps)
        ]
    return {
        **t.heading(),
        "reverts": t.reverts,
        "way_back": _way_back(plan, t) if t.reverts is None else None,
        "pre_checks": [_check(registry, i, c) for i, c in enumerate(t.pre_checks)],
        "steps": steps,
        "undo_order": [
            {"step": s["name"], **s["undo"]} for s in reversed(steps) if t.reverts is None
        ],
        "post_checks": [_check(registry, i, c) for i, c in enumerate(t.post_checks)],
    }


def _step(registry: Registry, index: int, step: Any) -> dict[str, Any]:
    spec = registry.actions[step.action_key]
    if step.rollback == "irreversible":
        kind = "irreversible"
        language = ""
    elif step.rollback:
        kind = "rollback"
        languages = {registry.actions[u.action_key].language for u in step.rollback}
        language = (languages.pop() or "") if len(languages) == 1 else ""
    elif spec.undo is not None:
        kind, language = "default", ""
    else:
        kind, language = "none", ""
    return {
        "name": step.label(index),
        "action": step.action_key,
        "describe": spec.describe(step),
        "language": spec.language or "",
        "description": step.description,
        "risk": step.risk,
        "timeout": step.timeout,
        "lock_timeout": step.lock_timeout,
        "retries": step.retries,
        "undo": {"kind": kind, "text": registry.describe_undo(step), "language": language},
    }


def _check(registry: Registry, index: int, check: Any) -> dict[str, Any]:
    spec = registry.checks[check.check_key]
    return {
        "name": check.label(index),
        "check": check.check_key,
        "describe": spec.describe(check),
        "language": spec.language or "",
        "description": check.description,
        "expect": None if check.expectation is None else str(check.expectation),
        "on_fail": check.on_fail,
        "wait": check.wait.model_dump() if check.wait else None,
        "soak": check.soak.model_dump() if check.soak else None,
    }
