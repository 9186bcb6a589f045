"""Plan and audit-trail text placed into Markdown literally: escaped, in code spans, fenced;
and a Markdown document written where it goes (`write`: rendered on a terminal)."""

from __future__ import annotations

import re
from typing import Any, TextIO

from migrator.views.values import visible

# every character Markdown reads as markup inside a line: emphasis, code spans, links
# and images, HTML and autolinks, entities, tables, strikethrough and `~~~` fences
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&!])")
# at a line's start: a heading, a quote, a list item (`-`, `+`, `1.`, `1)`), a setext
# underline (`===`, `---`), a thematic break
_LINE_START = re.compile(r"^([#+\-=]|\d{1,9}(?=[.)]))", re.M)
# what GitHub's autolink extension links in bare text (checked with cmark-gfm): a URL's
# `scheme://` and `mailto:`/`xmpp:`, and `www.`; a backslash before that `:` or `.` is
# read as the character itself, and no link is made
_AUTOLINK = re.compile(r"(?<=[A-Za-z0-9]):(?=//)|(?i:(?<=mailto)|(?<=xmpp)):|(?i:(?<=www))\.")
# `@` before a name: an e-mail address's (linked by the autolink extension whatever is
# escaped) or a mention (GitHub notifies a user or team of it, after rendering): a
# zero-width space after the `@` breaks both and shows the same text
_MENTION = re.compile(r"@(?=[A-Za-z0-9])")


def escape(value: Any, *, one_line: bool = False) -> str:
    """`value` as literal Markdown text, whatever it holds (never markup: no fence,
    heading, list, table, link, HTML or code block; no autolink of a bare URL, `www.` or
    e-mail address, and no @mention: a zero-width space follows an `@` before a name);
    `one_line` for tables and lists.
    Control characters are written `\\xNN` (`migrator.views.values.visible`): a
    document piped or shown on a terminal cannot carry an escape sequence."""
    text = " ".join(str(value).split()) if one_line else str(value).strip()
    text = visible(text, lines=not one_line)
    text = re.sub(r"^[ \t]+|[ \t]+$", "", text, flags=re.M)  # no code block, no <br>
    text = _SPECIAL.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda match: "\\" + match[0], text)
    text = _MENTION.sub("@&#8203;", text)
    return _LINE_START.sub(_escape_start, text)


def _escape_start(match: re.Match[str]) -> str:
    mark = match[1]
    return mark + "\\" if mark[0].isdigit() else "\\" + mark


def code(value: Any, *, in_table: bool = False) -> str:
    """`value` in an inline code span, on one line, whatever backticks it holds."""
    body = visible(" ".join(str(value).split()))
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body else ""
    span = f"{ticks}{pad}{body}{pad}{ticks}"
    return span.replace("|", "\\|") if in_table else span


def fence(body: str, language: str = "") -> str:
    """`body` as a fenced code block, its fence longer than any backtick fence inside."""
    text = visible(str(body).rstrip(), lines=True)
    longest = max((len(run) for run in re.findall(r"^\s*(`{3,})", text, re.M)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{language}\n{text}\n{ticks}"


def write(text: str, out: TextIO) -> None:
    """A Markdown document to `out`: rendered by rich on a terminal (headings, tables
    that fit its width, code highlighted), as the Markdown it is anywhere else (a pipe,
    a file): what a person reads, or what a program keeps. Control characters are
    written `\\xNN` whatever placed them (the escaping functions here already do)."""
    text = visible(text, lines=True)
    if not is_terminal(out):
        out.write(text)
        return
    from rich.console import Console

    console = Console(file=out, highlight=False, soft_wrap=False)
    console.print(_folding_markdown()(text, code_theme="ansi_dark", hyperlinks=False))


def _folding_markdown() -> Any:
    """rich's Markdown whose tables fold a cell too long for its column onto the next
    line instead of cutting it with `…`: on a narrow terminal a transition's name is
    read whole (`enable_dual_write`, not `enable_dual_…`)."""
    from rich import box
    from rich.markdown import Markdown, TableElement
    from rich.table import Table

    class FoldingTable(TableElement):
        def __rich_console__(self, console: Any, options: Any) -> Any:
            table = Table(
                box=box.SIMPLE,
                pad_edge=False,
                style="markdown.table.border",
                show_edge=True,
                collapse_padding=True,
            )
            if self.header is not None and self.header.row is not None:
                for column in self.header.row.cells:
                    heading = column.content.copy()
                    heading.stylize("markdown.table.header")
                    table.add_column(heading, overflow="fold")
            if self.body is not None:
                for row in self.body.rows:
                    table.add_row(*(cell.content for cell in row.cells))
            yield table

    class FoldingMarkdown(Markdown):
        elements = {**Markdown.elements, "table_open": FoldingTable}

    return FoldingMarkdown


def is_terminal(out: TextIO) -> bool:
    """Whether `out` is a terminal (a person reads it), not a pipe or a file."""
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False
