"""Plan prose and audit-trail text are literal in every Markdown document, whatever they
hold: no fence of backticks or tildes, heading (ATX or setext), list, quote, table,
link, image, HTML, entity or code block comes of them; and no control character gets
through to a terminal or a file."""

from __future__ import annotations

import html
import io
import re

import pytest
from markdown_it import MarkdownIt

from migrator.views.markdown import code, escape, fence, write

HOSTILE = [
    "~~~\nswallowed",
    "~~~phase-diagram\n~~~",
    "```\nswallowed",
    "```phase-diagram\n```",
    "1. first\n2. second",
    "3) third",
    "Title\n=====",
    "Title\n-----",
    "# heading",
    "   ## indented heading",
    "> quoted",
    "- item\n+ item\n* item",
    "***\n---\n___",
    "<b>bold</b> <script>alert(1)</script>",
    "<!-- comment -->",
    "| a | b |\n| --- | --- |\n| 1 | 2 |",
    "[link](http://example.com) ![img](x.png) <http://example.com>",
    "[ref]\n\n[ref]: http://example.com",
    "&amp; &copy; &#65;",
    "*em* **strong** _em_ ~~strike~~",
    "para\n\n        indented code",
    "\tcode by tab",
    "hard  \nbreak\\",
    "`code` ``more``",
]


def _rendered(markdown_text: str) -> str:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return str(md.render(markdown_text))


@pytest.mark.parametrize("text", HOSTILE)
def test_prose_renders_as_its_own_text_in_paragraphs(text: str) -> None:
    rendered = _rendered(escape(text))
    tags = set(re.findall(r"</?([a-z0-9]+)", rendered))
    assert tags <= {"p"}, (text, rendered)
    shown = html.unescape(re.sub(r"</?p>", "", rendered))
    words = lambda s: " ".join(s.split())  # noqa: E731 - paragraphs join lines
    assert words(shown) == words(text), rendered


@pytest.mark.parametrize("text", HOSTILE)
def test_one_line_text_stays_in_its_table_cell(text: str) -> None:
    table = f"| a | b |\n| --- | --- |\n| {escape(text, one_line=True)} | end |\n"
    rendered = _rendered(table)
    assert rendered.count("<td>") == 2, rendered
    assert "<td>end</td>" in rendered


def test_a_tilde_line_in_a_description_does_not_swallow_the_document() -> None:
    document = escape("intro\n~~~\nhidden") + "\n\n## Next\n"
    assert "<h2>Next</h2>" in _rendered(document)


def test_control_characters_are_written_visibly_everywhere() -> None:
    hostile = "review\x1b[31mRED \x1b]0;owned\x07 \x1b[2J\rback"
    for placed in (escape(hostile), escape(hostile, one_line=True), code(hostile), fence(hostile)):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", placed), repr(placed)
        assert "\\x1b[31mRED" in placed or "\\x1b\\[31mRED" in placed
    out = io.StringIO()
    write(f"# raw {hostile}\n", out)  # text a view placed without escaping it
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "\\x1b" in out.getvalue()
