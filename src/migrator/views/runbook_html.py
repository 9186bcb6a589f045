"""A Markdown runbook as a standalone HTML page (`migrator docs --output html`)."""

from __future__ import annotations

import html
from typing import Any

MERMAID_SCRIPT = "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }
pre { background: #f6f8fa; padding: .75rem; overflow-x: auto; border-radius: 6px; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; }
pre.mermaid { background: none; }
""".strip()


def html_page(markdown_text: str, title: str) -> str:
    """A standalone HTML page of a Markdown runbook.

    Plan text is escaped (raw HTML in a plan is shown, never interpreted). The diagram is
    kept as Mermaid source in `<pre class="mermaid">`; a browser that can fetch Mermaid's
    script draws it, any other shows the source.
    """
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML

    class Renderer(RendererHTML):
        def fence(self, tokens: Any, idx: int, options: Any, env: Any) -> str:
            token = tokens[idx]
            if token.info.strip() == "mermaid":
                return f'<pre class="mermaid">{html.escape(token.content)}</pre>\n'
            return super().fence(tokens, idx, options, env)

    md = MarkdownIt("commonmark", {"html": False}, renderer_cls=Renderer).enable("table")
    body = md.render(markdown_text)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_STYLE}\n</style>\n"
        f'<script type="module">import mermaid from "{MERMAID_SCRIPT}"; '
        "mermaid.initialize({startOnLoad: true});</script>\n"
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )
