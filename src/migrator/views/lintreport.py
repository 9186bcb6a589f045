"""`validate`'s problems for a CI system to show on a pull request's lines: GitHub workflow
annotations (`--output github`) and a GitLab Code Quality report (`--output gitlab`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migrator.errors import Problem

_GITLAB_SEVERITY = {"error": "major", "warning": "minor"}


def _data(text: str) -> str:
    """A message as GitHub reads an annotation's data: `%`, CR and LF escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A property value (file, title): also `:` and `,`, which would end it."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(problems: Sequence[Problem]) -> list[str]:
    """One `::warning file=F,line=L,col=C,title=RULE::MESSAGE` line per problem (`::error`
    for an error; the title `migrator` for a problem that is not a lint finding)."""
    lines = []
    for p in problems:
        level = "error" if p.severity == "error" else "warning"
        where = f"{p.path}: " if p.path else ""
        lines.append(
            f"::{level} file={_property(p.file)},line={p.line},col={p.column},"
            f"title={_property(p.rule or 'migrator')}::{_data(where + p.message)}"
        )
    return lines


def gitlab_report(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """GitLab's Code Quality report: a list of issues with `description`, `check_name`,
    `fingerprint` (stable while the finding stays: its file, rule and message, not its line
    nor its step's place in the list, which a step added before it moves), `severity` and
    `location` (`path` relative to the current folder, the repository's root in a CI job,
    when the file is under it; `lines.begin`)."""
    seen: dict[str, int] = {}
    issues = []
    for p in problems:
        key = "\0".join((_relative(p.file), p.rule or "", p.message))
        count = seen[key] = seen.get(key, 0) + 1
        fingerprint = hashlib.sha256(f"{key}\0{count}".encode()).hexdigest()
        where = f"{p.path}: " if p.path else ""
        issues.append(
            {
                "description": where + p.message,
                "check_name": p.rule or f"migrator-{p.severity}",
                "fingerprint": fingerprint,
                "severity": _GITLAB_SEVERITY.get(p.severity, "minor"),
                "location": {"path": _relative(p.file), "lines": {"begin": p.line}},
            }
        )
    return issues


def _relative(file: str) -> str:
    """`file` relative to the current folder when it is under it (`./a.yaml`, an absolute
    path in the checkout: `a.yaml`), else as given."""
    path = Path(file)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (OSError, ValueError):
        return path.as_posix()
