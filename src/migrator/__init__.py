"""migrator: declarative, locked, recorded and undoable data migrations and hotfixes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import pluggy

from migrator.plugin.context import CheckContext, CheckOutcome, StepContext, StepError
from migrator.plugin.registry import ActionSpec, CheckSpec

__version__ = "0.1.0"

F = TypeVar("F", bound=Callable[..., Any])
hookimpl = cast(Callable[[F], F], pluggy.HookimplMarker("migrator"))
"""Marks a plugin's hook implementations: `@migrator.hookimpl`."""

__all__ = [
    "ActionSpec",
    "CheckContext",
    "CheckOutcome",
    "CheckSpec",
    "StepContext",
    "StepError",
    "__version__",
    "hookimpl",
]
