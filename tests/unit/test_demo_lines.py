"""The demo's own lines fit the terminal: its prose wrapped between words at its indent,
its commands broken between words with ` \\` (an option kept with its value), and
nothing lost or changed on the way."""

from __future__ import annotations

import re

import pytest

from migrator.demo.lines import shell_lines, wrapped

PLAN = "/home/someone/work/migrator/src/migrator/demo/plans/scoring-results.yaml"
COMMAND = ["$ migrator", "apply", PLAN, "--to", "unified_only", "--yes", "--var", "app_url=x"]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_a_command_is_broken_between_its_words(width: int) -> None:
    text = shell_lines(COMMAND, width, "")
    lines = text.splitlines()
    # a line fits, or holds one word too long for any line (the path, at 60 columns)
    assert all(len(line) <= width or len(line[:-2].split()) == 1 for line in lines), text
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert all(line.startswith("    ") for line in lines[1:])
    assert re.sub(r" \\\n +", " ", text) == " ".join(COMMAND) + "\n"  # as typed, whole
    assert not any(line.rstrip(" \\").endswith("--to") for line in lines)


def test_a_short_command_stays_on_one_line() -> None:
    assert shell_lines(["$ migrator", "audit", "rls"], 80, "") == "$ migrator audit rls\n"


def test_prose_is_wrapped_at_its_indent_and_a_long_word_stays_whole() -> None:
    text = " ".join(["the scoring app answers on http://127.0.0.1:40000;"] * 4)
    lines = wrapped(text, 50, "   ").splitlines()
    assert len(lines) > 1 and all(len(line) <= 50 for line in lines)
    assert all(line.startswith("   ") and line[3] != " " for line in lines)
    assert " ".join(" ".join(lines).split()) == text
    url = "http://127.0.0.1:40000/" + "a" * 80
    assert wrapped(url, 50, "   ") == f"   {url}\n"
