"""The steps that read a page or a report as a reader does (its diagram, what it would
fetch, the order of its sections), which tests/bdd/test_docs.py and test_report.py run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from pytest_bdd import parsers, then

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
