"""The HTML runbook and report as a reader sees them: loaded in headless Chromium with the
network off, their phase diagram found in the DOM after load, screenshots at desktop and
phone width that are not blank (scripts/check_pages.py does the looking).

They need Debian's `chromium-headless-shell` (or `chromium`), as the pooler tests need
`pgbouncer`: `.ci/run` installs it, and under CI a missing browser fails them; on a
developer's machine without it they are skipped with the command that installs it
(tests/browsers.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browsers import SCRIPT, pages, require_chromium
from tests.plans import items

ROOT = Path(__file__).resolve().parents[2]
SCORING = ROOT / "plans" / "scoring-results.yaml"


@pytest.fixture(scope="module")
def browser() -> str:
    return require_chromium()


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


HEAD = '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">'


def _diagram(style: str = "", size: str = 'width="300" height="120"', font: int = 14) -> str:
    """An svg.phase-diagram of two phases, as the runbook draws one."""
    boxes = "".join(
        f'<g class="phase" data-phase="{name}"><rect x="{x}" y="10" width="120" '
        f'height="40" fill="#fff" stroke="#333"/><text x="{x + 60}" y="35" '
        f'font-size="{font}" text-anchor="middle">{name}</text></g>'
        for name, x in (("a", 10), ("b", 170))
    )
    return (
        f'<svg class="phase-diagram" {size} viewBox="0 0 300 60" style="{style}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>a to b</title>{boxes}</svg>'
    )


def _page(tmp_path: Path, name: str, body: str, head: str = "") -> Path:
    page = tmp_path / f"{name}.html"
    page.write_text(f"{HEAD}{head}</head><body>{body}</body></html>", encoding="utf-8")
    return page


def test_a_diagram_in_the_dom_but_not_on_the_screen_is_caught(browser: str, tmp_path: Path) -> None:
    fine = pages.look(browser, _page(tmp_path, "fine", _diagram()), tmp_path / "seen")
    assert fine.problems(["a", "b"]) == []
    assert fine.layouts["phone"].label_px is not None and fine.layouts["phone"].label_px > 8

    hidden = {
        "none": _diagram("display:none"),
        "invisible": _diagram("visibility:hidden"),
        "transparent": _diagram("opacity:0"),
        "zero": _diagram(size='width="0" height="0"'),
        "template": f"<p>a runbook</p><template>{_diagram()}</template>",
    }
    for name, body in hidden.items():
        seen = pages.look(browser, _page(tmp_path, name, body), tmp_path / "seen")
        assert seen.diagrams == 1 and sorted(seen.phases) == ["a", "b"], name  # in the DOM
        problems = seen.problems(["a", "b"])
        assert any(
            "diagram is not drawn" in p or "no svg.phase-diagram is in" in p for p in problems
        ), (name, problems)

    wide = _page(tmp_path, "wide", f'<div style="overflow-x:auto">{_diagram("width:900px")}</div>')
    problems = pages.look(browser, wide, tmp_path / "seen").problems(["a", "b"])
    assert any(p.startswith("at phone width the diagram spans") for p in problems), problems

    tiny = _page(tmp_path, "tiny", _diagram("width:100%", size="", font=3))
    problems = pages.look(browser, tiny, tmp_path / "seen").problems(["a", "b"])
    assert any("phase names are drawn" in p and "under 8 px" in p for p in problems), problems


def test_a_line_of_text_is_not_blank_and_a_refresh_is_caught(browser: str, tmp_path: Path) -> None:
    line = pages.look(browser, _page(tmp_path, "line", "<p>one line</p>"), tmp_path / "seen")
    assert not line.pictures["desktop"].blank and not line.pictures["phone"].blank
    assert line.pictures["desktop"].drawn < 0.001  # what the old threshold called blank

    away = _page(
        tmp_path,
        "away",
        _diagram(),
        head='<meta http-equiv="refresh" content="5; url=https://elsewhere.example.invalid/">',
    )
    problems = pages.look(browser, away, tmp_path / "seen").problems(["a", "b"])
    assert any(
        p.startswith("it navigates away") and "elsewhere.example.invalid" in p for p in problems
    ), problems


def test_names_are_compared_as_the_page_shows_them() -> None:
    assert pages.as_shown("dual\x1b[31m_write\x00") == "dual\ufffd[31m_write\ufffd"
    assert pages.as_shown("a\r\nb\rc\td") == "a\nb\nc\td"
    seen = pages.Page(Path(), diagrams=1, phases=["le\ufffdgacy", "b"], viewport=True)
    assert seen.problems(["le\x07gacy", "b"]) == []
    assert seen.problems(["legacy", "b"]) != []


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
