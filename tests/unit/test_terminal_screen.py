"""tests/terminal.py: a terminal of a given width that records every line drawn wider than
it, following colours, hyperlinks and the cursor moves of rich's live displays."""

from __future__ import annotations

import sys

import pytest

from tests.terminal import Drawn, Screen, in_terminal, unwrappable


def screen(width: int, text: str) -> Screen:
    drawn = Screen(width)
    drawn.feed(text)
    drawn.close()
    return drawn


def test_a_line_wider_than_the_terminal_is_recorded_whole() -> None:
    drawn = screen(10, "1234567890\n12345678901 and more\nshort\n")
    assert drawn.too_wide == ["12345678901 and more"]
    assert drawn.lines[:3] == ["1234567890", "12345678901 and more", "short"]


def test_colours_and_hyperlinks_take_no_cells() -> None:
    drawn = screen(
        10, "\x1b[1;31merror\x1b[0m \x1b]8;;https://x.invalid/a\x1b\\link\x1b]8;;\x1b\\\n"
    )
    assert drawn.lines[0] == "error link" and drawn.too_wide == []


def test_wide_characters_take_two_cells() -> None:
    assert screen(10, "日本語日本\n").too_wide == []
    assert screen(10, "日本語日本語\n").too_wide == ["日本語日本語"]


def test_a_live_display_redrawn_in_place_counts_each_frame() -> None:
    frames = (
        "\x1b[?25l"
        "step one ━━━━ 10 of 100 rows\n"
        "elapsed 1 s"
        "\r\x1b[2K\x1b[1A\x1b[2K"  # rich: back to the first line of the frame, erased
        "step one ━━━━━━━━━━━━━━━━━━━━━━━━━ 50 of 100 rows\n"
        "elapsed 2 s"
        "\r\x1b[2K\x1b[1A\x1b[2K"
        "done\n\x1b[?25h"
    )
    drawn = screen(40, frames)
    assert drawn.too_wide == ["step one ━━━━━━━━━━━━━━━━━━━━━━━━━ 50 of 100 rows"]
    assert drawn.lines[0] == "done"


def test_an_escape_sequence_it_cannot_follow_is_an_error() -> None:
    with pytest.raises(ValueError, match="not understood"):
        screen(80, "\x1b[5;5r")


def test_a_program_in_it_sees_a_terminal_of_that_size() -> None:
    code = (
        "import os, sys; from rich.console import Console; c = Console(); "
        "print(os.isatty(1), os.get_terminal_size(1).columns, c.width, c.is_terminal)"
    )
    drawn = in_terminal([sys.executable, "-c", code], columns=97, env={"PATH": "/usr/bin"})
    assert drawn.code == 0
    assert drawn.screen.lines[0] == "True 97 97 True"


def test_trailing_spaces_past_the_margin_make_a_line_too_wide() -> None:
    drawn = screen(10, "/a/b/c" + " " * 8 + "\nfits      \n")
    assert drawn.too_wide == ["/a/b/c        "]  # a terminal wraps the spaces: a blank line
    assert Drawn(0, drawn, "").too_wide() == ["/a/b/c        "]  # no path's exception


@pytest.mark.parametrize(
    "word",
    [
        "/home/ann/plans/" + "scoring-results-unification/" * 4 + "plan.yaml",
        "https://ops.example.invalid/" + "runbooks/" * 10,
        "postgresql://ann@db.internal:5432/scoring?sslmode=verify-full&" + "x=1&" * 10,
        "--var=" + "v" * 90,
    ],
)
def test_a_path_a_url_or_a_dsn_too_long_for_any_line_is_the_exception(word: str) -> None:
    assert unwrappable("    " + word)
    assert Drawn(0, screen(40, f"    {word}\n"), "").too_wide() == []


@pytest.mark.parametrize(
    "line",
    [
        "━" * 100,  # a rule: rich draws it to the width it is given
        "=" * 100,
        "/" * 100,
        "─────/─────" * 10,  # box drawing, whatever else it holds
        '{"a":1,' * 30,  # JSON a program could have wrapped or cut
        "abcdefghij" * 10,
        "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v " + "and prose",  # two words
        "/a/b/" * 20 + " ",  # a trailing space
    ],
)
def test_rules_text_without_spaces_and_trailing_spaces_are_no_exception(line: str) -> None:
    assert not unwrappable(line)
    assert Drawn(0, screen(40, line + "\n"), "").too_wide() != []
