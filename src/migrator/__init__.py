"""migrator: declarative, locked, recorded and undoable data migrations and hotfixes."""

from __future__ import annotations

from migrator.plugin import (
    ActionSpec,
    CheckContext,
    CheckOutcome,
    CheckSpec,
    StepContext,
    StepError,
    hookimpl,
)

__version__ = "0.1.0"

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
