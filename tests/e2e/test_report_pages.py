"""`migrator report` failures first, as a standalone page that works offline, and `report`
and `docs` rendered on a terminal (Markdown only when piped), against a real database."""

from __future__ import annotations

import io
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from migrator import api
from tests.browsers import pages, require_chromium
from tests.terminal import in_terminal

SVG = "{http://www.w3.org/2000/svg}"

PLAN = """\
plan: widgets
phases: [before, after]
transitions:
  - name: add_widgets
    from: before
    to: after
    steps:
      - name: create the <script>alert(1)</script> table
        sql: create table widgets (id int primary key, owner text)
        rollback: {sql: drop table widgets}
      - name: seed it
        sql: insert into widgets values (1, 'ops')
        rollback: {sql: delete from widgets}
    post_checks:
      - name: the owner is right
        query: select owner from widgets
        expect: "root"
"""


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a person's would."""

    def isatty(self) -> bool:
        return True


def failed_run(migrator: Any, write_plan: Any, sql: Any) -> int:
    plan = write_plan(PLAN, "widgets.yaml")
    assert migrator("apply", plan, "--to", "after").code == 1
    return int(sql("select id from migrator.runs")[0][0])


def svg_of(page: str) -> ET.Element:
    start = page.index('<svg class="phase-diagram"')
    return ET.fromstring(page[start : page.index("</svg>", start) + len("</svg>")])


def test_the_report_begins_with_what_failed_and_what_was_undone(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    run_id = failed_run(migrator, write_plan, sql)
    text = migrator("report", str(run_id)).out
    sections = re.findall(r"^## (.+)$", text, re.M)
    assert sections[:3] == ["What failed", "What was undone", "The run"]
    assert sections.index("Timeline") == len(sections) - 1
    failed = text[text.index("## What failed") : text.index("## What was undone")]
    # the value as a value: the text the check read, not a Python repr of it (the
    # expectation is its text, as the plan's check reads: the text 'root')
    line = "1. post-check the owner is right: **failed**: actual `ops`, expected `'root'`"
    assert line in failed
    assert "`'ops'`" not in text  # (the step's SQL has it quoted, as SQL)
    assert "| post | the owner is right | **failed** | `ops` | `'root'` |" in text


def test_a_run_that_failed_nothing_has_no_failures_section(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(PLAN.replace('"root"', '"ops"'), "widgets.yaml")
    assert migrator("apply", plan, "--to", "after").code == 0
    text = migrator("report", "1").out
    assert "## What failed" not in text
    assert text.index("## What was undone") < text.index("## Checks")


def test_the_report_page_is_standalone_failures_first_with_the_plans_diagram(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    run_id = failed_run(migrator, write_plan, sql)
    shown = migrator("report", str(run_id), "--output", "html")
    assert shown.code == 0, shown.err
    page = shown.out
    assert page.startswith("<!DOCTYPE html>")
    assert f"<title>Run {run_id}: widgets, add_widgets</title>" in page
    assert "<script" not in page.lower()
    assert not re.search(r"\b(src|href)\s*=|@import|url\((?!#)", page, re.I)
    assert "default-src 'none'" in page and 'name="viewport"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # a step's name, escaped
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", page)
    assert headings[:4] == ["What failed", "What was undone", "The run", "Phases"]
    assert '<h2 class="failed">What failed</h2>' in page
    assert "<strong>failed</strong>" not in page  # each failure in red
    assert page.count('<strong class="failed">failed</strong>') == 2  # what failed, checks
    root = svg_of(page)
    phases = {
        g.get("data-phase"): g.get("class") for g in root.iter(f"{SVG}g") if g.get("data-phase")
    }
    assert phases == {"before": "phase current", "after": "phase"}  # undone: still before
    arrows = [g.get("class") for g in root.iter(f"{SVG}g") if g.get("data-transition")]
    assert arrows == ["transition forward marked"]


def test_the_report_page_draws_the_way_back_a_rollback_took(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(PLAN.replace('"root"', '"ops"'), "widgets.yaml")
    assert migrator("apply", plan, "--to", "after").code == 0
    assert migrator("rollback", plan, "--yes").code == 0
    page = migrator("report", "1", "--output", "html").out
    root = svg_of(page)
    arrows = {
        g.get("data-transition"): g.get("class")
        for g in root.iter(f"{SVG}g")
        if g.get("data-transition")
    }
    assert arrows == {
        "add_widgets": "transition forward marked",  # the run reported
        "revert add_widgets": "transition back",
    }
    current = [
        g.get("data-phase") for g in root.iter(f"{SVG}g") if "current" in (g.get("class") or "")
    ]
    assert current == ["before"]


def test_the_json_report_says_what_failed_and_the_phases(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    run_id = failed_run(migrator, write_plan, sql)
    document = json.loads(migrator("report", str(run_id), "--output", "json").out)
    assert [(f["kind"], f["name"], f["actual"], f["expected"]) for f in document["failures"]] == [
        ("check", "the owner is right", "ops", "'root'")
    ]
    assert document["phases"] == {
        "initial": "before",
        "phases": ["before", "after"],
        "transitions": [{"name": "add_widgets", "from": "before", "to": "after"}],
        "current": "before",
        "run_transition": "add_widgets",
    }


def test_on_a_terminal_the_report_is_rendered_not_markdown_source(
    write_plan: Any, sql: Any, migrator: Any, database: str
) -> None:
    run_id = failed_run(migrator, write_plan, sql)
    out = Terminal()
    assert api.report(api.Context(out=out, dsn=database), run_id) == 0
    shown = out.getvalue()
    assert "What failed" in shown and "the owner is right" in shown
    assert "## " not in shown and "| --- |" not in shown and "**" not in shown
    assert "\x1b[" in shown  # styled for a terminal
    assert "───" in shown  # a table drawn, not written


def test_docs_on_a_terminal_is_rendered_and_piped_is_markdown(write_plan: Any) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    out = Terminal()
    assert api.docs(api.Context(out=out), [plan]) == 0
    shown = out.getvalue()
    assert "Runbook: widgets" in shown and "# Runbook" not in shown and "```" not in shown
    piped = io.StringIO()
    assert api.docs(api.Context(out=piped), [plan]) == 0
    assert piped.getvalue().startswith("# Runbook: widgets\n")


def test_docs_in_a_real_terminal_fits_its_width(write_plan: Any, tmp_path: Path) -> None:
    """A real process whose stdout is a terminal 80 columns wide (a pty): rich renders
    the runbook and keeps to the width."""
    plan = write_plan(PLAN, "widgets.yaml")
    drawn = in_terminal(
        [sys.executable, "-m", "migrator", "docs", str(plan)], columns=80, cwd=tmp_path
    )
    assert drawn.code == 0, drawn.output
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.output)
    lines = text.replace("\r\n", "\n").splitlines()
    assert any("Runbook: widgets" in line for line in lines)
    assert not any(line.startswith("# ") or line.startswith("```") for line in lines)
    assert max(len(line) for line in lines) <= 80


LONG = "dual_write_with_the_legacy_scoring_tables_still_written_and_read_by_no_one"
LONG_NAMES = f"""\
plan: scoring_results_unification_with_the_legacy_tables
phases: [legacy, {LONG}]
transitions:
  - name: enable_dual_write_for_scoring_results
    from: legacy
    to: {LONG}
    steps:
      - name: create_the_unified_scoring_results_table_for_every_session
        sql: create table unified (id int)
        rollback: {{sql: drop table unified}}
    post_checks:
      - name: every_completed_session_has_its_unified_scoring_result_row
        query: select 1
        expect: 2
"""


def test_pages_with_long_snake_case_names_fit_a_phone_and_a_desktop(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    """A heading, a list item or a table cell holding a long name without a space wraps
    inside the page (a phone 390 px wide, a desktop 1280 px): the reader never scrolls
    the page sideways (a wide table scrolls in its own box)."""
    browser = require_chromium()
    plan = write_plan(LONG_NAMES, "long.yaml")
    assert migrator("apply", plan, "--to", LONG, "--yes").code == 1
    written = {
        "runbook": migrator("docs", plan, "--output", "html", dsn=False).out,
        "report": migrator("report", "1", "--output", "html").out,
    }
    for name, page in written.items():
        assert LONG in page, page
        path = tmp_path / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        for size in ((390, 844), (1280, 900)):
            layout = pages.measure(browser, path, tmp_path, size)
            assert layout.page <= layout.window, (
                f"the {name} is {layout.page} px wide at {size[0]} px"
            )
            assert not layout.problems(f"{size[0]} px"), layout.problems(f"{size[0]} px")


VALUES_PLAN = """\
plan: values
phases: [before, after]
transitions:
  - name: look
    from: before
    to: after
    steps:
      - name: nothing
        sql: select 1
        rollback: {sql: select 1}
    post_checks:
      - name: a long answer
        query: select repeat('x', 600) || 'the end'
        expect: short
      - name: a json answer
        query: select jsonb_build_object('session', 'a1', 'score', 0.5)
        expect: a1
      - name: results agree
        query: select * from (values (1, 0.724), (2, 0.5)) as r(session_id, confidence)
        expect:
          equals_query: select * from (values (1, 0.362), (2, 0.5)) as l(session_id, confidence)
"""


def test_the_report_shows_values_as_values_and_keeps_them_whole_in_json(
    migrator: Any, write_plan: Any
) -> None:
    """No Python repr reaches the report (a JSON answer is JSON, a text expected is SQL
    text); a differing row is shown by its key with the columns that differ; the JSON
    timeline holds every value whole (only the Markdown cuts)."""
    plan = write_plan(VALUES_PLAN, "values.yaml")
    assert migrator("apply", plan, "--to", "after").code == 1
    document = json.loads(migrator("report", "1", "--output", "json").out)
    checks = {c["name"]: c for c in document["checks"]}
    assert checks["a long answer"]["expected"] == "'short'"  # as SQL writes text
    detail = checks["a json answer"]["detail"]
    assert 'a JSON object ({"score": 0.5, "session": "a1"})' in detail, detail
    assert "{'" not in json.dumps(document), "a Python repr in the report"
    long = [m["summary"] for m in document["timeline"] if "a long answer" in (m["step"] or "")]
    assert any("x" * 600 + "the end" in s for s in long), long
    text = migrator("report", "1").out
    assert "session\\_id 1: confidence 0.724 vs 0.362" in text, text
    assert "x" * 600 + "the end" not in text  # cut in the Markdown, whole in the JSON
