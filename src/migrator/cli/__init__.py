"""The `migrator` command line: parse, call `migrator.api`, turn errors into exit codes.

Heavy modules (SQLAlchemy, pydantic models, plugins) are imported inside the
commands so that `migrator --help` stays instant. The group and its shared options
are `group` and `options`; the commands live by what they do (`commands_plans`,
`commands_runs`, `commands_records`, `commands_tools`, `commands_server`,
`commands_fleet`); `run.main` is the entry point.
"""

from __future__ import annotations

from migrator.cli import (
    commands_fleet,
    commands_plans,
    commands_records,
    commands_runs,
    commands_server,
    commands_tools,
)
from migrator.cli.group import cli
from migrator.cli.run import main

__all__ = [
    "cli",
    "commands_fleet",
    "commands_plans",
    "commands_records",
    "commands_runs",
    "commands_server",
    "commands_tools",
    "main",
]
