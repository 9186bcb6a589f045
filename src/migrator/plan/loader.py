"""Load a plan file: YAML with positions -> pydantic models -> a `Plan`, or every problem."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from migrator.errors import PlanError, Problem
from migrator.plan.lint import lint_document, lint_plan
from migrator.plan.model import (
    COMMON_CHECK_KEYS,
    COMMON_STEP_KEYS,
    Plan,
    PlanModels,
    Transition,
    plan_models,
)
from migrator.plan.source import PathKey, SourceDocument, load_yaml
from migrator.plugin.registry import Registry

if TYPE_CHECKING:
    from migrator.lint.runner import StepLinter


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from migrator.plugin.manager import default_registry

    return default_registry()


def load_plan(path: str | Path, registry: Registry | None = None) -> Plan:
    """Load and validate a plan file; raise PlanError with every error found."""
    plan, problems = check_plan(path, registry)
    errors = [p for p in problems if p.severity == "error"]
    if errors or plan is None:
        raise PlanError(errors)
    return plan


def check_plan(
    path: str | Path,
    registry: Registry | None = None,
    connection: Any = None,
    extra: StepLinter | None = None,
) -> tuple[Plan | None, list[Problem]]:
    """Load a plan file and lint it: the plan (None if invalid) and every error and warning
    (with `connection`, a read-only one to the target, and `extra`, squawk: see
    `migrator.lint.runner.lint_steps`)."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return None, [Problem(name, 1, 1, "", f"cannot read the plan: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(name, 1, 1, "", f"the plan is not UTF-8 text: {exc.reason}")]
    checksum = hashlib.sha256(raw).hexdigest()
    return _check_text(text, name, checksum, _registry(registry), connection, extra)


def load_plan_text(text: str, file: str = "<plan>", registry: Registry | None = None) -> Plan:
    """Like `load_plan`, from a string (tests, plans embedded in code)."""
    checksum = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    plan, problems = _check_text(text, file, checksum, _registry(registry))
    errors = [p for p in problems if p.severity == "error"]
    if errors or plan is None:
        raise PlanError(errors)
    return plan


def _check_text(
    text: str,
    file: str,
    checksum: str,
    registry: Registry,
    connection: Any = None,
    extra: StepLinter | None = None,
) -> tuple[Plan | None, list[Problem]]:
    try:
        doc = load_yaml(text, file)
    except PlanError as exc:
        return None, exc.problems
    models = plan_models(registry)
    data = doc.data
    if not isinstance(data, dict):
        return None, [
            doc.problem((), "a plan is a YAML mapping (plan:, phases:, transitions: ...)")
        ]
    kind = data.get("kind", "phased")
    if kind not in ("phased", "hotfix"):
        return None, [
            doc.problem(
                ("kind",), f"unknown kind '{kind}': use 'hotfix', or leave it out for a phased plan"
            )
        ]
    model = models.hotfix if kind == "hotfix" else models.phased
    problems = lint_document(doc)
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        problems += _translate(exc, doc, models)
        parsed = None
    plan = None
    if parsed is not None and not problems:
        plan = _normalize(parsed, doc, checksum, tuple(registry.plan_keys))
        problems += lint_plan(plan, registry, connection, extra)
    problems.sort(key=lambda p: (p.severity != "error", p.line, p.column))
    return plan, problems


def _normalize(
    parsed: Any, doc: SourceDocument, checksum: str, plugin_keys: tuple[str, ...] = ()
) -> Plan:
    if parsed.kind == "hotfix":
        apply = Transition(
            name="apply",
            source="pending",
            target="applied",
            risk=parsed.risk,
            approval=parsed.approval,
            description=parsed.description,
            pre_checks=tuple(parsed.pre_checks),
            steps=tuple(parsed.steps),
            post_checks=tuple(parsed.post_checks),
            path=(),
            ignore=parsed.ignore,
        )
        back = Transition(
            name="rollback",
            source="applied",
            target="pending",
            risk=parsed.risk,
            approval=parsed.approval,  # asked on the way back as on the way there
            description="undo the hotfix's steps in reverse order",
            pre_checks=(),
            steps=(),
            post_checks=(),
            path=(),
            reverts="apply",
        )
        phases: tuple[str, ...] = ("pending", "applied")
        transitions: tuple[Transition, ...] = (apply, back)
    else:
        phases = tuple(parsed.phases)
        transitions = tuple(
            Transition(
                name=t.name,
                source=t.from_,
                target=t.to,
                risk=t.risk,
                approval=t.approval,
                description=t.description,
                pre_checks=tuple(t.pre_checks),
                steps=tuple(t.steps),
                post_checks=tuple(t.post_checks),
                path=("transitions", i),
                ignore=t.ignore,
            )
            for i, t in enumerate(parsed.transitions)
        )
    return Plan(
        name=parsed.plan,
        kind=parsed.kind,
        description=parsed.description,
        variables=dict(parsed.vars),
        phases=phases,
        transitions=transitions,
        file=doc.file,
        checksum=checksum,
        source=doc,
        settings={k: getattr(parsed, k) for k in plugin_keys if getattr(parsed, k) is not None},
    )


# -- pydantic errors -> problems pointing into the file ---------------------------------


def _translate(exc: ValidationError, doc: SourceDocument, models: PlanModels) -> list[Problem]:
    problems: dict[tuple[int, int, str, str], Problem] = {}
    for error in exc.errors():
        problem = _problem(error, doc, models)
        if problem is not None:
            problems.setdefault(
                (problem.line, problem.column, problem.path, problem.message), problem
            )
    return sorted(problems.values(), key=lambda p: (p.line, p.column))


def _lookup(data: Any, path: PathKey) -> tuple[bool, Any]:
    for part in path:
        in_mapping = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if in_mapping or in_list:
            data = data[part]
        else:
            return False, None
    return True, data


def _clean_loc(loc: tuple[str | int, ...], doc: SourceDocument, models: PlanModels) -> PathKey:
    """Drop the segments pydantic adds (union tags, a list index on a single mapping)."""
    path: list[str | int] = []
    for part in loc:
        if part in models.tags:
            continue
        if isinstance(part, int):
            _, here = _lookup(doc.data, tuple(path))
            if isinstance(here, dict):
                continue  # `rollback: {sql: ...}` validated as a one-step list
        path.append(part)
    return tuple(path)


def _problem(error: ErrorDetails, doc: SourceDocument, models: PlanModels) -> Problem | None:
    path = _clean_loc(tuple(error["loc"]), doc, models)
    kind = error["type"]
    if kind == "missing":
        parent, field = path[:-1], path[-1]
        return doc.problem(parent, f"missing required field '{field}'", key=True)
    if kind == "extra_forbidden":
        parent = path[:-1]
        key = path[-1]
        _, siblings = _lookup(doc.data, parent)
        return doc.problem(path, _unknown_key(str(key), parent, siblings, models), key=True)
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        return _no_single_key(path, doc, models)
    message = error["msg"]
    for prefix, replacement in (("Value error, ", ""), ("Input should be", "must be")):
        if message.startswith(prefix):
            message = replacement + message[len(prefix) :]
    return doc.problem(path, message.strip())


def _unknown_key(key: str, parent: PathKey, siblings: Any, models: PlanModels) -> str:
    candidates: list[str] = []
    in_step = _is_step_path(parent)
    in_check = _is_check_path(parent)
    if in_step and isinstance(siblings, dict):
        action = next((k for k in siblings if k in models.registry.actions), None)
        spec = models.registry.actions.get(action or "")
        options = set(spec.options.model_fields) if spec and spec.options else set()
        candidates = sorted(COMMON_STEP_KEYS | options)
    elif in_check:
        check = next((k for k in (siblings or {}) if k in models.registry.checks), None)
        if key == "expect" and check:
            return (
                f"unknown key 'expect': {check} takes no expect (its own keys say what it checks)"
            )
        candidates = sorted(COMMON_CHECK_KEYS)
    elif not parent:
        candidates = sorted(
            (set(models.phased.model_fields) | set(models.hotfix.model_fields)) - {"from_"}
        )
    elif len(parent) == 2 and parent[0] == "transitions":
        candidates = sorted(
            {
                "name",
                "from",
                "to",
                "description",
                "risk",
                "approval",
                "pre_checks",
                "steps",
                "post_checks",
                "ignore",
            }
        )
    hint = difflib.get_close_matches(key, [c for c in candidates if c != key], n=1)
    return f"unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else "")


def _is_step_path(path: PathKey) -> bool:
    return (len(path) >= 2 and isinstance(path[-1], int) and path[-2] in ("steps", "rollback")) or (
        len(path) >= 1 and path[-1] == "rollback"
    )


def _is_check_path(path: PathKey) -> bool:
    return (
        len(path) >= 2 and isinstance(path[-1], int) and path[-2] in ("pre_checks", "post_checks")
    )


def _no_single_key(path: PathKey, doc: SourceDocument, models: PlanModels) -> Problem:
    found, value = _lookup(doc.data, path)
    is_check = _is_check_path(path)
    what, known, common = (
        ("check", models.registry.checks, COMMON_CHECK_KEYS)
        if is_check
        else ("action", models.registry.actions, COMMON_STEP_KEYS)
    )
    available = ", ".join(sorted(known)) or "none (no plugin is loaded)"
    noun = "check" if is_check else "step"
    if not found or not isinstance(value, dict):
        shown = type(value).__name__ if found else "nothing"
        return doc.problem(
            path,
            f"a {noun} is a mapping with one {what} key ({available}), not {_kind(value, shown)}",
        )
    present = [k for k in value if k in known]
    if len(present) > 1:
        return doc.problem(
            path,
            f"a {noun} has exactly one {what} key, this one has {len(present)} "
            f"({', '.join(present)}): give each its own {noun}",
        )
    unknown = [str(k) for k in value if k not in common]
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(known), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return doc.problem(
            (*path, unknown[0]),
            f"unknown {what} key '{unknown[0]}'{suggestion}; available: {available}",
            key=True,
        )
    return doc.problem(path, f"a {noun} needs one {what} key; available: {available}")


def _kind(value: Any, fallback: str) -> str:
    names = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}
    if value is None:
        return "an empty value"
    return names.get(type(value), fallback)
