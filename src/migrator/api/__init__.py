"""The library behind the command line: one typed function per command.

Each takes a `Context` first (where output goes, which database, who operates)
and returns an exit code; errors are raised as `MigratorError`s. The CLI only
parses arguments, calls these, and turns errors into one line and an exit code.

The functions live by what they do: `plans` (no database), `runs` (moving a plan),
`records` (reading what happened, rehearsing); `session` opens a plan on its database.
"""

from __future__ import annotations

from migrator.api.context import Context, OutputFormat
from migrator.api.plans import DOCS_SUFFIX, DocsFormat, docs, plugins, schema, validate
from migrator.api.records import graph, history, rehearse, report, status
from migrator.api.runs import apply, continue_, dry_run, pause, resume, rollback
from migrator.api.session import Session, default_target_phase, open_session

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
    "status",
    "validate",
]
