"""The `Context` every library call takes first: where output goes, whom the run is for."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

from migrator.plugin.registry import Registry

if TYPE_CHECKING:
    from migrator.plugin.manager import PluginManager

OutputFormat = Literal["text", "json", "markdown"]
"""markdown: `migrator plan` only (a pull-request comment); lines for people go to stderr."""


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        return "unknown"


@dataclass
class Context:
    """Where output goes and whom the run is for; shared by every command."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    output: OutputFormat = "text"
    dsn: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    operator: str = field(default_factory=_default_operator)
    assume_yes: bool = False
    force: bool = False
    log_format: Literal["text", "json"] | None = None
    interactive: bool = False
    confirm: Callable[[str], bool] = field(default=lambda question: False)
    registry: Registry | None = None
    plugin_manager: PluginManager | None = None
    # the values of the options plugins add to apply, rollback and resume (`metrics_file`)
    plugin_options: dict[str, Any] = field(default_factory=dict)

    def plugins(self) -> Registry:
        if self.registry is None:
            self.registry = self.manager().build_registry()
        return self.registry

    def manager(self) -> PluginManager:
        if self.plugin_manager is None:
            from migrator.plugin.manager import get_plugin_manager

            self.plugin_manager = get_plugin_manager()
        return self.plugin_manager

    def emit_json(self, document: Any) -> None:
        """`document` on stdout as JSON, its values as values (`views.values.plain`: a
        Decimal a number, a time in ISO 8601 with its zone, never a repr)."""
        from migrator.views.values import plain

        json.dump(plain(document), self.out, indent=2)
        self.out.write("\n")

    def say(self, line: str) -> None:
        """A line for a person: on stdout for text output, on stderr beside a document."""
        print(line, file=self.out if self.output == "text" else self.err)
