"""Markdown documents as standalone HTML pages that work offline: the runbook
(`migrator docs --output html`) and the report (`migrator report RUN --output html`).

A page needs nothing but itself: its style is inline, its phase diagram an inline SVG
drawn at render time (`migrator.views.diagram_svg`), it has no script and names no
address to fetch (its Content-Security-Policy lets it fetch nothing). It has a viewport
for phones (wide tables scroll inside their box), and prints with its code wrapped,
never cut: the manual steps a person must follow are all on paper.

Plan text and the audit trail are escaped: raw HTML in a plan is shown, never
interpreted (Markdown's own HTML is off, and the Markdown was written escaped).
"""

from __future__ import annotations

import html
from typing import Any

from migrator.views.values import visible

DIAGRAM_FENCE = "phase-diagram"
"""The info string of the fenced block a Markdown document leaves where the page draws
its phase diagram (the runbook's ```mermaid block is drawn there too)."""

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }
pre { background: #f6f8fa; padding: .75rem; overflow-x: auto; border-radius: 6px; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
:not(pre) > code { overflow-wrap: anywhere; }
h1, h2, h3, h4, p, li { overflow-wrap: anywhere; }
td, th, td code, th code { overflow-wrap: break-word; }
.table-scroll { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
figure.diagram { margin: 1rem 0; overflow-x: auto; }
svg.phase-diagram { max-width: 100%; height: auto; }
details.source summary { cursor: pointer; color: #57606a; }
.failed { color: #cf222e; }
@media (max-width: 40rem) { body { margin: 1rem auto; } }
@media print {
  body { max-width: none; margin: 0; }
  pre, code { white-space: pre-wrap; overflow-wrap: anywhere; }
  pre { overflow: visible; break-inside: avoid; }
  .table-scroll, figure.diagram { overflow: visible; }
  table { break-inside: auto; } tr { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
  details.source { display: none; }
}
""".strip()

_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def html_page(markdown_text: str, title: str, diagram: str | None = None) -> str:
    """A standalone HTML page of a Markdown document.

    `diagram` (an `<svg>` from `migrator.views.diagram_svg`) is drawn where the
    Markdown has its ```mermaid or ```phase-diagram block, the Mermaid source kept
    beside it, folded; without one, that block stays text."""
    body = html_body(markdown_text, diagram)
    return page(title, body)


def page(title: str, body: str) -> str:
    """The page around `body` (HTML already escaped): its head, its style, no script."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_STYLE}\n</style>\n"
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )


def html_body(markdown_text: str, diagram: str | None = None) -> str:
    """The HTML of a Markdown document (CommonMark and tables, no raw HTML); control
    characters written `\\xNN` (`migrator.views.values.visible`)."""
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML

    class Renderer(RendererHTML):
        def fence(self, tokens: Any, idx: int, options: Any, env: Any) -> str:
            token = tokens[idx]
            info = token.info.strip()
            if info not in ("mermaid", DIAGRAM_FENCE):
                return str(super().fence(tokens, idx, options, env))
            if diagram is None:
                return f"<pre><code>{html.escape(token.content)}</code></pre>\n"
            source = (
                '<details class="source"><summary>Mermaid source</summary>'
                f"<pre><code>{html.escape(token.content)}</code></pre></details>\n"
                if info == "mermaid"
                else ""
            )
            return f'<figure class="diagram">\n{diagram}</figure>\n{source}'

        def table_open(self, tokens: Any, idx: int, options: Any, env: Any) -> str:
            return '<div class="table-scroll">\n' + str(self.renderToken(tokens, idx, options, env))

        def table_close(self, tokens: Any, idx: int, options: Any, env: Any) -> str:
            return str(self.renderToken(tokens, idx, options, env)) + "</div>\n"

    md = MarkdownIt("commonmark", {"html": False}, renderer_cls=Renderer).enable("table")
    return str(md.render(visible(markdown_text, lines=True)))
