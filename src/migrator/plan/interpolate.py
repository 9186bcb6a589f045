"""`${name}` and `${env:NAME}` in strings that are not SQL (URLs, headers, flag values).

SQL never goes through here: plan variables reach SQL only as `:name` bound
parameters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

REFERENCE = re.compile(r"\$\{([^{}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InterpolationError(ValueError):
    """A `${...}` that names nothing, or names an unset environment variable."""


@dataclass(frozen=True)
class Reference:
    text: str
    name: str
    env: bool


def references(value: str) -> Iterator[Reference]:
    """Every `${...}` in `value`; raises InterpolationError for a malformed one."""
    for match in REFERENCE.finditer(value):
        inner = match.group(1).strip()
        env = inner.startswith("env:")
        name = inner[4:].strip() if env else inner
        if not _NAME.match(name):
            raise InterpolationError(
                f"'{match.group(0)}' is not a reference: write ${{name}} or ${{env:NAME}}"
            )
        yield Reference(match.group(0), name, env)


def interpolate(
    value: str, variables: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> str:
    """Replace each `${name}` with a plan variable and each `${env:NAME}` from the environment."""
    env = os.environ if environ is None else environ
    list(references(value))  # reject malformed references before replacing any

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner.startswith("env:"):
            name = inner[4:].strip()
            if name not in env:
                raise InterpolationError(f"environment variable {name} is not set")
            return env[name]
        if inner not in variables:
            raise InterpolationError(f"'{match.group(0)}' names no plan variable")
        return str(variables[inner])

    # One pass: a value that itself holds `${...}` is never expanded again.
    return REFERENCE.sub(replace, value)


def secret_interpolation(
    variables: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    add_secret: Callable[[str], None],
) -> Callable[[str], str]:
    """`interpolate` with `variables` (or what a call of it gives, read when first needed),
    each value read from `${env:...}` handed to `add_secret` first: it is masked from then
    on, in every line and event (a step's `ctx.interpolate`, a plugin's
    `CommandInfo.interpolate`)."""

    def resolve(value: str) -> str:
        for ref in references(value):
            if ref.env and ref.name in os.environ:
                add_secret(os.environ[ref.name])
        return interpolate(value, variables() if callable(variables) else variables)

    return resolve
