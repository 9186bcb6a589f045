"""`migrator demo` in a terminal 80 and 120 columns wide draws no line wider than the
terminal.

The demo runs as a real process on a pseudo-terminal of that size (tests/terminal.py), so
rich sees a terminal: colours, its live progress bars, its own wrapping. Every line it
draws, including each frame of a progress bar redrawn in place, is measured in terminal
cells after its escape sequences.

A line fits when it takes at most the terminal's width. A line wider than that is what a
terminal breaks at its last column, mid-word and with no indent, and fails the test: a
long paragraph must be a wrapped paragraph, prose broken between words into lines that
fit, each continuation at the paragraph's indent (as rich wraps a paragraph, and the
demo's chapters and notes are), or a command broken between its words with ` \\`. The
one exception is a line that is a single word after its indent holding a `/` or a `=` (a
path, a URL or a DSN longer than the terminal): nothing can wrap it without breaking what
a person copies. A rule, box drawing, a run of one character, other text without spaces
(JSON) and trailing spaces past the margin are no exception (tests/terminal.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from rich.cells import cell_len

from migrator.cli.options import DSN_PASSWORD_WARNING
from tests.terminal import in_terminal, unwrappable


def too_wide(lines: list[str], width: int) -> list[str]:
    """The lines wider than `width` that are not a path, a URL or a DSN alone."""
    return [line for line in lines if cell_len(line) > width and not unwrappable(line)]


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 120])
def test_the_demo_fits_the_terminal(columns: int, admin_dsn: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    drawn = in_terminal(
        [sys.executable, "-m", "migrator", "demo", "--sessions", "100", "--dsn", admin_dsn],
        columns=columns,
        env=env,
        cwd=tmp_path,
    )
    shown = "\n".join(drawn.screen.lines)
    assert drawn.code == 0, shown
    assert "━━ 9. What happened" in shown and "\x1b[" in drawn.output  # a terminal's output
    wide = too_wide(drawn.screen.too_wide, columns)
    assert not wide, f"{len(wide)} line(s) wider than {columns} columns:\n" + "\n".join(
        f"[{cell_len(line)}] {line}" for line in wide
    )


def test_a_line_that_is_one_word_is_the_only_exception() -> None:
    path = "/" + "very-long-folder/" * 6 + "scoring-results.yaml"
    others = ["  ✓ a check: passed " + "x" * 80, "━" * 100, '{"a":1,' * 30, path + " "]
    assert too_wide(["     " + path, *others, "short"], 80) == others


def test_the_warning_of_a_password_on_the_command_line_is_wrapped_in_a_terminal() -> None:
    unreachable = "postgresql://someone:hunter2@127.0.0.1:1/nowhere"
    drawn = in_terminal(
        [sys.executable, "-m", "migrator", "demo", "--dsn", unreachable], columns=60
    )
    assert drawn.code == 5  # the server cannot be reached; the warning came first
    assert drawn.screen.too_wide == []
    start = next(i for i, line in enumerate(drawn.screen.lines) if line.startswith("warning:"))
    words = " ".join(drawn.screen.lines[start:]).split()
    assert " ".join(words).startswith(DSN_PASSWORD_WARNING)  # every word, in order
    assert "hunter2" not in drawn.output
