"""Plan and audit-trail text placed into Markdown literally: escaped, in code spans, fenced;
and a Markdown document written where it goes (`write`: rendered on a terminal)."""

from __future__ import annotations

import re
from typing import Any, TextIO

_SPECIAL = re.compile(r"([\\`*_\[\]<|])")
_LINE_START = re.compile(r"^(\s*)([#>+\-])", re.M)  # a heading, a quote, a list item


def escape(value: Any, *, one_line: bool = False) -> str:
    """`value` as literal Markdown text (never markup); `one_line` for tables and lists."""
    text = " ".join(str(value).split()) if one_line else str(value).strip()
    return _LINE_START.sub(r"\1\\\2", _SPECIAL.sub(r"\\\1", text))


def code(value: Any, *, in_table: bool = False) -> str:
    """`value` in an inline code span, on one line, whatever backticks it holds."""
    body = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or not body else ""
    span = f"{ticks}{pad}{body}{pad}{ticks}"
    return span.replace("|", "\\|") if in_table else span


def fence(body: str, language: str = "") -> str:
    """`body` as a fenced code block, its fence longer than any backtick fence inside."""
    text = str(body).rstrip()
    longest = max((len(run) for run in re.findall(r"^\s*(`{3,})", text, re.M)), default=2)
    ticks = "`" * (longest + 1)
    return f"{ticks}{language}\n{text}\n{ticks}"


def write(text: str, out: TextIO) -> None:
    """A Markdown document to `out`: rendered by rich on a terminal (headings, tables
    that fit its width, code highlighted), as the Markdown it is anywhere else (a pipe,
    a file): what a person reads, or what a program keeps."""
    if not _is_terminal(out):
        out.write(text)
        return
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console(file=out, highlight=False, soft_wrap=False)
    console.print(Markdown(text, code_theme="ansi_dark", hyperlinks=False))


def _is_terminal(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False
