"""One exception hierarchy; each error carries what the user needs, and its exit code."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Literal


class ExitCode(IntEnum):
    """The exit codes of the command line (README.md, "Exit codes")."""

    OK = 0
    CHECK_FAILED = 1
    INVALID = 2
    UNDO_FAILED = 3
    LOCKED = 4
    UNREACHABLE = 5
    INTERNAL = 6
    SIGINT = 130
    SIGTERM = 143


Severity = Literal["error", "warning"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def on_one_line(text: str) -> str:
    """`text` with its control characters and line breaks escaped (`\\n`): what a plan or a
    file name holds cannot forge another line of output."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


@dataclass(frozen=True)
class Problem:
    """One finding about a plan file, pointing at the exact place in it."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = "error"
    rule: str | None = None
    """A lint finding's stable rule id (`require-concurrent-index-creation`); None otherwise."""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        prefix = "warning: " if self.severity == "warning" else ""
        rule = f" [{self.rule}]" if self.rule else ""
        line = f"{self.file}:{self.line}:{self.column}: {where}{prefix}{self.message}{rule}"
        # One line whatever the plan holds: a key with a newline or a carriage return in it
        # cannot forge another line of output (`plans/x.yaml: valid`).
        return on_one_line(line)

    def as_dict(self) -> dict[str, object]:
        """Its fields; `rule` only for a lint finding."""
        fields = asdict(self)
        if self.rule is None:
            del fields["rule"]
        return fields


class MigratorError(Exception):
    """Base of every error migrator reports to its user as one clear message."""

    exit_code: ExitCode = ExitCode.INVALID
    label = "error"  # the word the command line puts before the message

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(MigratorError):
    """The command line asked for something that cannot be done."""


class PlanError(MigratorError):
    """A plan file is not valid: holds every problem found, all at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PluginError(MigratorError):
    """A plugin failed to load or registered something that clashes."""


class DatabaseUnreachable(MigratorError):
    """The database cannot be reached; `dsn` never holds a password."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, dsn: str, reason: str) -> None:
        self.dsn = dsn
        self.reason = reason
        super().__init__(f"cannot reach the database at {dsn}: {reason}")


class ConnectionLost(MigratorError):
    """The database went away during a run and did not come back in time: the run is
    left interrupted, for `migrator resume` or `migrator rollback`."""

    exit_code = ExitCode.UNREACHABLE


class RunStopped(MigratorError):
    """SIGINT or SIGTERM stopped the command at a safe point (or at once, at the second):
    the run under way, if any, is left interrupted, for `migrator resume` or `rollback`."""

    label = "stopped"

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class InternalError(MigratorError):
    """An unexpected error (a bug, in migrator or in a plugin): the run under way is left
    interrupted; the error it came from is its `__cause__` (`--traceback` shows it)."""

    exit_code = ExitCode.INTERNAL
