"""The steps that read a page or a report as a reader does (its diagram, what it would
fetch, the order of its sections; a command's output on a terminal), which
tests/bdd/test_docs.py and test_report.py run."""

from __future__ import annotations

import re
import shlex
import sys
import xml.etree.ElementTree as ET
from typing import Any

from pytest_bdd import parsers, then, when

from tests.terminal import in_terminal

SVG = "{http://www.w3.org/2000/svg}"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


@then(parsers.parse('the page draws the phases "{phases}" and the transitions "{transitions}"'))
def _(phases: str, transitions: str, world: dict[str, Any]) -> None:
    """The page's `<svg class="phase-diagram">`: well-formed, titled, a box per phase and
    an arrow per transition (in the plan's order)."""
    page = world["stdout"]
    start = page.index('<svg class="phase-diagram"')
    root = ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])
    groups = list(root.iter(f"{SVG}g"))
    drawn = [g.get("data-phase") for g in groups if "phase" in (g.get("class") or "").split()]
    assert drawn == _names(phases), drawn
    arrows = [g.get("data-transition") for g in groups if g.get("data-transition")]
    assert arrows == _names(transitions), arrows
    assert root.find(f"{SVG}title") is not None


@then("the page has no script and fetches nothing from the network")
def _(world: dict[str, Any]) -> None:
    page = world["stdout"]
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=|@import|url\((?!#)", page, re.I), page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


@then(parsers.parse('its sections begin with "{sections}"'))
def _(sections: str, world: dict[str, Any]) -> None:
    """The second-level headings, of Markdown or of a page, in order."""
    text = world["stdout"]
    found = re.findall(r"^## (.+)$", text, re.M) or re.findall(r"<h2[^>]*>([^<]+)</h2>", text)
    wanted = _names(sections)
    assert found[: len(wanted)] == wanted, found


@when(parsers.parse('I run "{command}" on a terminal {width:d} columns wide'))
def _(command: str, width: int, world: dict[str, Any]) -> None:
    """The command as a real process whose stdout is a terminal (a pty) `width` columns
    wide; its output without the terminal's escape sequences."""
    words = shlex.split(command)
    assert words[0] == "migrator", command
    argv = words[1:] + ([] if words[1] == "docs" else ["--dsn", world["dsn"]])
    drawn = in_terminal([sys.executable, "-m", "migrator", *argv], columns=width, cwd=world["dir"])
    world["code"] = drawn.code
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.output)
    world["stdout"] = text.replace("\r\n", "\n")  # stderr is drawn on the terminal too
    world["stderr"] = ""
    world["output"] = world["stdout"]


@then(parsers.parse("no line is wider than {width:d} columns"))
def _(width: int, world: dict[str, Any]) -> None:
    lines = world["stdout"].splitlines()
    assert lines and max(len(line) for line in lines) <= width, world["stdout"]


@then("the output is rendered, not Markdown source")
def _(world: dict[str, Any]) -> None:
    for line in world["stdout"].splitlines():  # Markdown's marks begin its lines
        assert not re.match(r"(#{1,6} |```|\| --- )", line), line
    assert "**" not in world["stdout"], world["stdout"]


@then("the output holds no control character")
def _(world: dict[str, Any]) -> None:
    """Nothing but text, line breaks and tabs (on a terminal, once the terminal's own
    colour and style sequences are taken out): no escape sequence of the data's."""
    found = re.findall(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", world["stdout"])
    assert not found, (found, world["stdout"])


@then(parsers.parse("the page draws {count:d} phase diagram"))
def _(count: int, world: dict[str, Any]) -> None:
    assert world["stdout"].count("<svg") == count, world["stdout"]
