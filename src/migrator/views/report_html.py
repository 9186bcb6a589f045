"""A run's report as a standalone HTML page (`migrator report RUN --output html`).

The report's Markdown (`migrator.views.report_markdown`: failures first) made a page
as the runbook is (`migrator.views.runbook_html`: the same escaping, no script, nothing
fetched, a viewport, print styles that wrap), with the plan's phase diagram drawn from
this database's runs of the plan (`migrator.views.report._phases`): the phase the plan
is in highlighted, this run's transition in bold.
"""

from __future__ import annotations

from typing import Any

from migrator.views.diagram_svg import Edge, phase_svg
from migrator.views.report_markdown import markdown
from migrator.views.runbook_html import html_page


def report_page(doc: dict[str, Any]) -> str:
    """The report document `doc` as a standalone HTML page."""
    run = doc["run"]
    diagram = report_svg(doc)
    text = markdown(doc, diagram=diagram is not None)
    page = html_page(text, f"Run {run['id']}: {run['plan']}, {run['transition']}", diagram)
    # red where it failed (plan text cannot say this: it was escaped as Markdown)
    page = page.replace("<h2>What failed</h2>", '<h2 class="failed">What failed</h2>', 1)
    return page.replace("<strong>failed</strong>", '<strong class="failed">failed</strong>')


def report_svg(doc: dict[str, Any]) -> str | None:
    """The plan's phases as the report draws them; None without any."""
    phases = doc.get("phases")
    if not phases:
        return None
    edges = [Edge(t["name"], t["from"], t["to"]) for t in phases["transitions"]]
    return phase_svg(
        phases["phases"],
        edges,
        initial=phases["initial"],
        current=phases["current"],
        marked=phases["run_transition"],
        title=f"The phases of plan {doc['run']['plan']} as this database's runs of it went",
    )
