"""The HTML runbook and report as a reader sees them: loaded in headless Chromium with the
network off, their phase diagram found in the DOM after load, screenshots at desktop and
phone width that are not blank (scripts/check_pages.py does the looking).

A missing browser fails these tests: CI installs it (.ci/run), and so must a developer
(`apt-get install chromium-headless-shell`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.plans import items

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_pages.py"
SCORING = ROOT / "plans" / "scoring-results.yaml"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_pages", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


pages = _script()


@pytest.fixture(scope="module")
def browser() -> str:
    found = pages.find_browser()
    if found is None:
        pytest.fail(f"no headless Chromium on this machine: {pages.INSTALL_HINT}")
    return str(found)


def _phases(page: Any) -> list[str]:
    return sorted(page.phases)


def test_the_runbook_draws_its_diagram_offline(browser: str, migrator: Any, tmp_path: Path) -> None:
    done = migrator("docs", SCORING, "--output", "html", dsn=False)
    assert done.code == 0, done.err
    page = tmp_path / "runbook.html"
    page.write_text(done.out, encoding="utf-8")

    seen = pages.look(browser, page, tmp_path / "seen")

    assert seen.diagrams == 1, "no svg.phase-diagram in the DOM after load"
    assert _phases(seen) == ["dual_write", "legacy", "unified_only"]
    assert seen.requests == [], f"the page asked the network for {seen.requests}"
    assert seen.scripts == 0 and seen.viewport
    for name, (width, height) in pages.SIZES.items():
        picture = seen.pictures[name]
        assert (picture.width, picture.height) == (width, height)
        assert not picture.blank, f"the {name} screenshot is blank"
    assert seen.pdf is not None and seen.pdf.read_bytes().startswith(b"%PDF")
    for name, (page_width, window) in seen.widths.items():
        assert 0 < page_width <= window, f"at {name} width the reader scrolls sideways"
    assert seen.problems(["legacy", "dual_write", "unified_only"]) == []


PLAN = (
    "plan: pages\n"
    "phases: [draft, review, published]\n"
    "transitions:\n"
    "  - name: submit\n"
    "    from: draft\n"
    "    to: review\n"
    "    steps:\n"
    + items(["{name: the table, sql: create table pages (id int)}"], 6)
    + "  - name: publish\n"
    "    from: review\n"
    "    to: published\n"
    "    steps:\n"
    + items(["{name: a page, sql: insert into pages values (1)}"], 6)
    + "    post_checks:\n"
    + items(["{name: two pages published, query: select count(*) from pages, expect: 2}"], 6)
)


def test_the_report_of_a_failed_run_draws_its_diagram_offline(
    browser: str, migrator: Any, write_plan: Any, sql: Any, database: str, tmp_path: Path
) -> None:
    plan = write_plan(PLAN, "pages.yaml")
    assert migrator("apply", plan, "--to", "review").code == 0
    assert migrator("apply", plan, "--to", "published").code == 1  # the post-check fails
    [(run,)] = sql("select id from migrator.runs where transition = 'publish'")
    done = migrator("report", str(run), "--output", "html")
    assert done.code == 0, done.err
    page = tmp_path / "report.html"
    page.write_text(done.out, encoding="utf-8")

    seen = pages.look(browser, page, tmp_path / "seen")

    assert seen.diagrams == 1, "no svg.phase-diagram in the DOM after load"
    assert {"review", "published"} <= set(seen.phases) <= {"draft", "review", "published"}
    assert seen.requests == [] and seen.scripts == 0 and seen.viewport
    assert not seen.pictures["desktop"].blank and not seen.pictures["phone"].blank
    assert seen.problems() == []

    # The script a person runs writes the same pages and screenshots, and finds them sound.
    out = tmp_path / "for-a-person"
    looked = subprocess.run(
        [sys.executable, SCRIPT, out, "--plan", plan, "--run", str(run)],
        capture_output=True,
        text=True,
        env={**os.environ, "MIGRATOR_DSN": database},
        cwd=ROOT,
        check=False,
    )
    assert looked.returncode == 0, looked.stdout + looked.stderr
    for stem in ("runbook-pages", f"report-{run}"):
        for size in pages.SIZES:
            assert (out / f"{stem}-{size}.png").stat().st_size > 0
    assert "as a reader should see it" in looked.stdout


def test_the_checks_catch_what_a_reader_would_miss(browser: str, tmp_path: Path) -> None:
    cdn = tmp_path / "cdn.html"
    cdn.write_text(
        "<!DOCTYPE html><html><head>"
        '<script type="module" src="https://cdn.example.invalid/mermaid.mjs"></script>'
        "</head><body><pre class=mermaid>stateDiagram-v2\n a --> b</pre></body></html>",
        encoding="utf-8",
    )
    wide = tmp_path / "wide.html"
    wide.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">'
        "</head><body><pre>" + "select 1; " * 60 + "</pre></body></html>",
        encoding="utf-8",
    )
    blank = tmp_path / "blank.html"
    blank.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">'
        "</head><body></body></html>",
        encoding="utf-8",
    )

    fetched = pages.look(browser, cdn, tmp_path / "seen").problems()
    assert "0 svg.phase-diagram after load, not 1" in fetched
    assert any("cdn.example.invalid/mermaid.mjs" in p for p in fetched), fetched
    assert "1 <script> element(s)" in fetched and "no <meta name=viewport>" in fetched

    scrolled = pages.look(browser, wide, tmp_path / "seen")
    assert scrolled.widths["phone"][0] > scrolled.widths["phone"][1] == 390
    assert any(p.startswith("at phone width the page is") for p in scrolled.problems())

    empty = pages.look(browser, blank, tmp_path / "seen")
    assert empty.pictures["desktop"].blank and empty.pictures["phone"].blank
    assert "the phone screenshot is blank" in empty.problems()


def test_a_missing_browser_is_named_with_the_way_to_install_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, SCRIPT, tmp_path, "--browser", "no-such-chromium"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path), "MIGRATOR_CHROMIUM": ""},
        check=False,
    )
    assert done.returncode == 2
    assert "no Chromium found" in done.stderr and "apt-get install" in done.stderr
