"""Plan variables at run time: `--var` overrides, and `${env:...}` that must be set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .errors import PlanError, UsageError
from .interpolate import InterpolationError, references
from .plan.model import Plan, Transition


def resolve_variables(plan: Plan, overrides: dict[str, str]) -> dict[str, Any]:
    """The plan's variables with `--var` overrides, typed like their defaults."""
    values = dict(plan.variables)
    for name, raw in overrides.items():
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise UsageError(
                f"--var {name}: plan {plan.name} has no variable {name} (known: {known})"
            )
        default = values[name]
        values[name] = _coerce(name, raw, default)
    return values


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("true", "yes", "1", "on"):
            return True
        if raw.lower() in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"--var {name}={raw}: expected true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"--var {name}={raw}: expected a whole number") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"--var {name}={raw}: expected a number") from None
    return raw


def check_environment(plan: Plan, transitions: list[Transition]) -> None:
    """Every `${env:NAME}` the transitions use must be set: else a PlanError pointing at it."""
    doc = plan.source
    problems = []
    roots = [t.path for t in transitions] if plan.kind == "phased" else [()]
    for path, value in _strings_under(doc.data, ()):
        if not any(path[: len(r)] == r for r in roots):
            continue
        try:
            refs = list(references(value))
        except InterpolationError:
            continue
        for ref in refs:
            if ref.env and ref.name not in os.environ:
                problems.append(doc.problem(path, f"environment variable {ref.name} is not set"))
    if problems:
        raise PlanError(problems)


def _strings_under(
    data: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _strings_under(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _strings_under(v, (*path, i))
