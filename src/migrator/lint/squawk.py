"""squawk, the optional extra linter (`pip install 'migrator[lint]'`): every SQL text of a
plan given to its program at once, its findings placed back in the plan's texts.

How it is found: `$MIGRATOR_SQUAWK` names the program (a path, or a name on PATH), or is
`off` to leave it out (as `validate --no-squawk` does); unset, `squawk` on PATH, else the
one installed beside this Python (the extra's, in a virtualenv not activated). Found
nowhere and not asked for: validate runs migrator's own rules only, silently.

The texts that run in a transaction go to squawk in one call (on stdin, as one file, in
plan order) with `--assume-in-transaction`, the others in another; `--pg-version` is the
target's when `validate --dsn` names one. In that file each text starts a line, its
`:name` parameters written `$1` padded with spaces to the same width (squawk parses `$1`,
and lines and columns stay those of the plan's text), and a line `;` ends it. squawk's
rule ids are kept. A squawk that fails, answers what is not its JSON or takes longer than
`$MIGRATOR_SQUAWK_TIMEOUT` seconds (60) is one warning, and validate goes on with
migrator's own rules.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from migrator.db.checksql import words
from migrator.errors import Problem
from migrator.lint.findings import LintFinding, LintRule, SqlText


class LintedStep(Protocol):
    """What squawk reads of a step (`migrator.lint.linted.LintedStep`): its SQL texts, its
    label, and whether it is an undo step."""

    @property
    def texts(self) -> tuple[SqlText, ...]: ...

    @property
    def label(self) -> str: ...

    @property
    def undo_of(self) -> str | None: ...


SETTING = "MIGRATOR_SQUAWK"
TIMEOUT_SETTING = "MIGRATOR_SQUAWK_TIMEOUT"
OFF = frozenset({"off", "no", "none", "false", "0"})
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0

EXCLUDED: Mapping[str, str] = {
    "prefer-robust-stmts": "a failed step is undone and a step runs exactly once: "
    "IF NOT EXISTS would hide a step that ran against an unexpected schema",
    "require-timeout-settings": "migrator sets the step's lock_timeout (and statement_timeout "
    "from its `timeout`) on the step's session",
    "require-lock-timeout": "migrator sets every step's lock_timeout itself",
    "require-statement-timeout": "a step's `timeout` sets statement_timeout",
}
"""squawk's rules left out, and why (passed to it as `--exclude`)."""

DROPPED = frozenset({"syntax-error", "unused-ignore"})
"""What squawk reports that is no lint finding: its parser's view of syntax (PostgreSQL
itself is the judge, and squawk's parser may lag a server's new syntax) and its own
`-- squawk-ignore` comments."""

# The rules squawk 2.70 knows (default and opt-in), so that a step's `ignore` may name
# one whether or not squawk is installed.
_IDS = """
adding-field-with-default adding-foreign-key-constraint adding-not-nullable-field
adding-required-field adding-serial-primary-key-field ban-add-column
ban-add-composite-attribute ban-add-enum-value ban-alter-database-options
ban-alter-domain-with-add-constraint ban-alter-extension ban-alter-function-options
ban-alter-generated-expression ban-alter-identity ban-alter-policy-condition
ban-alter-policy-roles ban-alter-role-options ban-alter-row-level-security
ban-alter-sequence-values ban-alter-system-options ban-alter-view-options ban-char-field
ban-concurrent-index-creation-in-transaction ban-create-domain-with-constraint
ban-create-policy ban-detach-inheritance ban-disable-trigger ban-drop-column
ban-drop-constraint ban-drop-database ban-drop-domain ban-drop-extension ban-drop-function
ban-drop-generated-expression ban-drop-index ban-drop-not-null ban-drop-policy
ban-drop-schema ban-drop-sequence ban-drop-table ban-drop-trigger ban-drop-type
ban-drop-view ban-new-write-restriction ban-replace-view-function ban-replica-identity
ban-revoke ban-set-default ban-set-schema ban-truncate-cascade ban-uncommitted-transaction
changing-column-type constraint-missing-not-valid disallowed-unique-constraint
identifier-too-long prefer-bigint-over-int prefer-bigint-over-smallint prefer-identity
prefer-repack prefer-text-field prefer-timestamp-tz renaming-column renaming-object
renaming-table require-concurrent-index-creation require-concurrent-index-deletion
require-concurrent-partition-detach require-concurrent-reindex require-enum-value-ordering
require-table-schema transaction-nesting
""".split()  # noqa: SIM905 (one line of ids each would be 71 lines)

RULES: tuple[LintRule, ...] = tuple(
    LintRule(rule, f"squawk's rule {rule}", "", "squawk") for rule in _IDS
)


def find_program(
    setting: str | None = None,
    path: str | None = None,
    beside: Path | None = None,
) -> tuple[str | None, str | None]:
    """squawk's program, and what is wrong if it was asked for and is not there.

    `setting` is `$MIGRATOR_SQUAWK` (None: read it), `path` the PATH searched (None:
    the environment's), `beside` the folder of this Python's programs."""
    value = os.environ.get(SETTING, "") if setting is None else setting
    value = value.strip()
    if value.lower() in OFF:
        return None, None
    if value:
        found = shutil.which(value, path=path)
        if found is None:
            return None, f"{SETTING}={value}: no such program; squawk's rules were not run"
        return found, None
    found = shutil.which("squawk", path=path)
    if found is not None:
        return found, None
    folder = Path(sys.executable).parent if beside is None else beside
    return shutil.which("squawk", path=str(folder)), None


def positional(text: str) -> str:
    """`text` with every `:name` parameter as `$1` and spaces to the same width: squawk
    parses `$1`, and each line and column stays that of `text`."""
    out = list(text)
    for statement in words(text):
        for word in statement:
            if word.kind == "other" and word.value.startswith(":"):
                width = len(word.value)
                out[word.at : word.at + width] = "$1".ljust(width)
    return "".join(out)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Where each line of `text` starts (CRLF, CR and LF each end a line)."""
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def offset_of(text: str, line: int, column: int, starts: Sequence[int] | None = None) -> int | None:
    """The character of `text` at squawk's 0-based `line` and `column` (a count of UTF-8
    bytes in that line; a tab one byte; CRLF, CR and LF each end a line); `starts`: its
    `line_starts`, when already known."""
    starts = line_starts(text) if starts is None else starts
    if not 0 <= line < len(starts):
        return None
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    raw = text[start:end].encode("utf-8", "surrogatepass")
    if not 0 <= column <= len(raw):
        return None
    return start + len(raw[:column].decode("utf-8", "ignore"))


@dataclass
class _Group:
    """The texts squawk reads in one call, as one file: each text from the start of a
    line (its `:name` parameters positional), then a line `;` that ends its last
    statement. In plan order: squawk sees a table the plan created earlier as new."""

    parts: list[str] = field(default_factory=list)
    texts: list[tuple[int, int, SqlText, list[int]]] = field(default_factory=list)
    """(first line, step index, text, where each of its lines starts) of each text."""
    starts: list[int] = field(default_factory=list)
    lines: int = 0

    def add(self, step: int, text: SqlText) -> None:
        self.starts.append(self.lines)
        shown = positional(text.text)
        lines = line_starts(shown)
        self.texts.append((self.lines, step, text, lines))
        self.parts.append(shown + "\n;\n")
        self.lines += len(lines) + 1

    def find(self, line: int) -> tuple[int, SqlText, int, list[int]] | None:
        """The step, the text, the line in it of the file's `line`, and its line starts."""
        at = bisect.bisect_right(self.starts, line) - 1
        if at < 0:
            return None
        first, step, text, lines = self.texts[at]
        return step, text, line - first, lines


@dataclass
class Squawk:
    """squawk over the SQL texts of a plan's steps (`runner.StepLinter`)."""

    program: str
    pg_version: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    excluded: tuple[str, ...] = tuple(EXCLUDED)
    found: dict[int, list[LintFinding]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def prepare(self, steps: Sequence[LintedStep]) -> None:
        """Run squawk once over the texts of `steps` that run in a transaction and once
        over the others, each group as one file in plan order; keep its findings by step."""
        self.found, self.unread = {}, []
        self.labels = [step.label for step in steps]
        groups: dict[bool, _Group] = {True: _Group(), False: _Group()}
        for i, step in enumerate(steps):
            for text in step.texts:
                if not text.expression:  # a condition alone is no statement to parse
                    groups[text.in_transaction].add(i, text)
        for in_transaction, group in groups.items():
            if group.texts and not self.failures:
                self._run(in_transaction, group)

    def _run(self, in_transaction: bool, group: _Group) -> None:
        command = [self.program, "--reporter", "json", "--exclude", ",".join(self.excluded)]
        command.append(
            "--assume-in-transaction" if in_transaction else "--no-assume-in-transaction"
        )
        if self.pg_version:
            command.append(f"--pg-version={self.pg_version}")
        try:
            done = subprocess.run(
                command,
                input="".join(group.parts).encode("utf-8", "surrogatepass"),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.failures.append(f"squawk took longer than {self.timeout:g} s and was stopped")
            return
        except OSError as error:
            self.failures.append(f"squawk could not be started: {error.strerror or error}")
            return
        try:
            if done.returncode not in (0, 1):  # 1: it found something
                raise ValueError("it ended in error")
            reported = _parse(done.stdout)
            if done.returncode == 1 and not reported:  # "found something", and said nothing
                raise ValueError("it ended in error")
        except ValueError as error:
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            why = said[0] if said else f"{error}"
            self.failures.append(f"squawk failed (exit {done.returncode}): {why[:300]}")
            return
        for entry in reported:
            self._keep(entry, group)

    def _keep(self, entry: Mapping[str, Any], group: _Group) -> None:
        rule = str(entry.get("rule_name") or "")
        where = group.find(int(entry["line"]))
        if rule == "syntax-error" and where is not None:  # squawk then reads nothing else
            self.unread.append(self.labels[where[0]] if where[0] < len(self.labels) else "?")
        if not rule or rule in DROPPED or rule in EXCLUDED or where is None:
            return
        i, text, line, starts = where
        offset = (
            None if text.generated else offset_of(text.text, line, int(entry["column"]), starts)
        )
        if offset is None and not text.generated:
            return  # on the line that ends the text: not in it
        message = " ".join(str(entry.get("message") or rule).split()).rstrip(".")
        safe = " ".join(str(entry.get("help") or "").split())
        path = () if text.generated else text.path
        self.found.setdefault(i, []).append(
            LintFinding(rule, f"squawk: {message}", path, offset, safe)
        )

    def findings(
        self, index: int, step: LintedStep, native: Iterable[LintFinding]
    ) -> list[LintFinding]:
        """squawk's findings in step `index` (the runner leaves out those of a rule migrator
        has too); in an undo step, not its `ban-drop-*` ones: an undo drops what its own
        step made, which no client used before that step."""
        found = self.found.get(index, [])
        if step.undo_of is not None:
            found = [f for f in found if not f.rule.startswith("ban-drop-")]
        return found

    def problems(self, file: str) -> list[Problem]:
        """squawk's failure, if it failed, or the step whose SQL it could not parse: one
        warning (it then reads none of the plan's texts that go with that step's)."""
        if self.failures:
            return [Problem(file, 1, 1, "", self.failures[0], "warning")]
        if self.unread:
            message = (
                f"squawk could not parse the SQL of step '{self.unread[0]}' (PostgreSQL will "
                "judge it): squawk's rules did not run on this plan's SQL"
            )
            return [Problem(file, 1, 1, "", message, "warning")]
        return []


def _parse(output: bytes) -> list[Mapping[str, Any]]:
    try:
        data = json.loads(output.decode("utf-8") or "[]")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("its output is not JSON") from None
    if not isinstance(data, list) or not all(
        isinstance(e, dict) and isinstance(e.get("line"), int) and isinstance(e.get("column"), int)
        for e in data
    ):
        raise ValueError("its JSON is not a list of findings") from None
    return data


def from_environment(
    enabled: bool = True, pg_version: str | None = None
) -> tuple[Squawk | None, str | None]:
    """The squawk validate uses, if any (`enabled` False: `--no-squawk`), and what is
    wrong with the one asked for."""
    if not enabled:
        return None, None
    program, problem = find_program()
    if program is None:
        return None, problem
    try:
        timeout = float(os.environ.get(TIMEOUT_SETTING) or DEFAULT_TIMEOUT)
    except ValueError:
        timeout = math.nan
    if not 0 < timeout <= MAX_TIMEOUT:  # nan, inf and 1e400 too
        why = f"{TIMEOUT_SETTING} is not a number of seconds from 0 to {MAX_TIMEOUT:g}"
        return None, f"{why}; squawk's rules were not run"
    excluded = tuple(dict.fromkeys([*EXCLUDED, *configured_exclusions(Path.cwd())]))
    return Squawk(program, pg_version, timeout, excluded), None


def configured_exclusions(folder: Path) -> list[str]:
    """The `excluded_rules` of the `.squawk.toml` squawk itself would read (in `folder` or
    the nearest folder above it): squawk's `--exclude` replaces that list, so migrator
    passes it on with its own."""
    import tomllib

    for place in (folder, *folder.parents):
        config = place / ".squawk.toml"
        if config.is_file():
            try:
                rules = tomllib.loads(config.read_text("utf-8")).get("excluded_rules", [])
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return []  # squawk says what is wrong with it
            return [str(r) for r in rules] if isinstance(rules, list) else []
    return []
