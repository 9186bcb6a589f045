"""Where feature flags live: the interface every flag store implements.

A store is found through the `migrator_flag_store` hook. The built-in plugin
`flag` provides two: the `migrator.flags` table (the default, written in the
step's transaction) and a JSON or YAML file written atomically, for
applications that read their flags from a file.
"""

from __future__ import annotations

from typing import Any, Protocol

from migrator.plugin.context import StepContext

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()
"""What `FlagStore.get` returns for a flag that does not exist."""


class FlagStore(Protocol):
    """Reads and writes flags; `ctx.connection` is the run's connection if it needs one."""

    def get(self, ctx: StepContext, name: str) -> Any:
        """The flag's value, or `MISSING`."""

    def set(self, ctx: StepContext, name: str, value: Any) -> None:
        """Create or replace the flag."""

    def delete(self, ctx: StepContext, name: str) -> None:
        """Remove the flag (nothing happens if it does not exist)."""
