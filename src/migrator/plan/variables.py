"""Plan variables at run time: `--var` overrides, and `${env:...}` that must be set."""

from __future__ import annotations

import math
import os
import re
from typing import Any

from migrator.errors import PlanError, UsageError
from migrator.nested import strings_in
from migrator.plan.interpolate import InterpolationError, references
from migrator.plan.model import Plan, Transition

# Numbers as a person types them: ASCII digits, an optional sign, no `1_000`, no `nan`.
_WHOLE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def resolve_variables(plan: Plan, overrides: dict[str, str]) -> dict[str, Any]:
    """The plan's variables with `--var` overrides, typed like their defaults.

    A value goes to SQL as a bound parameter and to flags and URLs as it is: one that
    PostgreSQL cannot hold as text (a NUL character, bytes that are not UTF-8) is bad
    usage, refused before anything is touched.
    """
    values = dict(plan.variables)
    for name, raw in overrides.items():
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise UsageError(
                f"--var {name}: plan {plan.name} has no variable {name} (known: {known})"
            )
        _check_text(name, raw)
        default = values[name]
        values[name] = _coerce(name, raw, default)
    return values


def _check_text(name: str, raw: str) -> None:
    if "\x00" in raw:
        raise UsageError(f"--var {name}: the value holds a NUL character, which text cannot")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"--var {name}: the value is not valid UTF-8 text (check the shell's encoding)"
        ) from None


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("true", "yes", "1", "on"):
            return True
        if raw.lower() in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"--var {name}={raw}: expected true or false")
    if isinstance(default, int):
        try:
            if _WHOLE.fullmatch(raw.strip()):
                return int(raw)
        except ValueError:  # more digits than Python converts
            pass
        raise UsageError(f"--var {name}={raw}: expected a whole number")
    if isinstance(default, float):
        number = float(raw) if _NUMBER.fullmatch(raw.strip()) else math.nan
        if not math.isfinite(number):
            raise UsageError(f"--var {name}={raw}: expected a number")
        return number
    return raw


def check_environment(plan: Plan, transitions: list[Transition]) -> None:
    """Every `${env:NAME}` the transitions use must be set: else a PlanError pointing at it."""
    doc = plan.source
    problems = []
    roots = [t.path for t in transitions] if plan.kind == "phased" else [()]
    for path, value in strings_in(doc.data):
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
