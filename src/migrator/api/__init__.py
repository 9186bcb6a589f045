"""The library behind the command line: one typed function per command.

Each takes a `Context` first (where output goes, which database, who operates)
and returns an exit code; errors are raised as `MigratorError`s. The CLI only
parses arguments, calls these, and turns errors into one line and an exit code.

The functions live by what they do: `plans` (no database), `runs` (moving a plan),
`records` (reading what happened), `fleet` (one plan on every target of a fleet
file), `server` (the embedded PostgreSQL: status, start,
stop); `session` opens a plan on its database. `rehearse`
is `migrator.rehearse.rehearsal.rehearse`, imported on first use (it loads the engine).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.api.context import Context, OutputFormat
from migrator.api.fleet import fleet_apply, fleet_export, fleet_plan, fleet_rollback, fleet_status
from migrator.api.plans import DOCS_SUFFIX, DocsFormat, docs, plugins, schema, validate
from migrator.api.records import graph, history, report, status
from migrator.api.runs import apply, continue_, dry_run, pause, resume, rollback, unlock
from migrator.api.server import server_start, server_status, server_stop
from migrator.api.session import Session, default_target_phase, open_session

if TYPE_CHECKING:
    from migrator.rehearse.rehearsal import rehearse

__all__ = [
    "DOCS_SUFFIX",
    "Context",
    "DocsFormat",
    "OutputFormat",
    "Session",
    "apply",
    "continue_",
    "default_target_phase",
    "docs",
    "dry_run",
    "fleet_apply",
    "fleet_export",
    "fleet_plan",
    "fleet_rollback",
    "fleet_status",
    "graph",
    "history",
    "open_session",
    "pause",
    "plugins",
    "rehearse",
    "report",
    "resume",
    "rollback",
    "schema",
    "server_start",
    "server_status",
    "server_stop",
    "status",
    "unlock",
    "validate",
]


def __getattr__(name: str) -> object:
    """`rehearse`, imported when first used: `from migrator import api` stays light."""
    if name == "rehearse":
        from migrator.rehearse.rehearsal import rehearse

        return rehearse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
