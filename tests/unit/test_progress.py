"""Progress of long steps: plain lines without a terminal, a bar on one, nothing beside JSON."""

from __future__ import annotations

import io

from rich.console import Console

from migrator.views.console import Reporter
from migrator.views.progress import _Progress


def test_without_a_terminal_a_plain_line_every_few_seconds() -> None:
    out = io.StringIO()
    reporter = Reporter(out, io.StringIO())
    progress = _Progress(reporter, total=10_000, description="copy", every=0.0)
    progress.advance(2_500)
    progress.status("paused")
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  copy: 2,500 of 10,000 rows, ")
    assert "rows/s" in lines[0]
    assert lines[1] == "  copy: paused"


def test_an_estimated_total_says_so() -> None:
    out = io.StringIO()
    progress = _Progress(Reporter(out, io.StringIO()), total=9, estimated=True, every=0.0)
    progress.advance(3)
    assert "3 of 9 rows (estimated total)" in out.getvalue()


def test_lines_wait_for_their_interval() -> None:
    out = io.StringIO()
    progress = _Progress(Reporter(out, io.StringIO()), total=100, every=3600.0)
    for _ in range(10):
        progress.advance(10)
    assert out.getvalue() == ""  # not a line per batch


def test_beside_json_output_nothing_is_printed() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = _Progress(Reporter(out, err, output="json"), total=100, every=0.0)
    progress.advance(50)
    progress.status("paused")
    assert out.getvalue() == "" and err.getvalue() == ""


def test_on_a_terminal_a_bar() -> None:
    out = io.StringIO()
    reporter = Reporter(out, io.StringIO())
    reporter.console = Console(file=out, force_terminal=True, width=120)
    progress = _Progress(reporter, total=1_000, description="copy")
    assert progress.bar is not None
    progress.advance(400)
    progress.close()
    assert progress.bar is None
    assert "copy" in out.getvalue()


def test_rows_written_are_shown_apart_from_rows_done() -> None:
    out = io.StringIO()
    progress = _Progress(
        Reporter(out, io.StringIO()), total=1_000, description="copy", every=0.0, written=7
    )
    progress.advance(100, 3)
    assert out.getvalue().startswith("  copy: 100 of 1,000 rows, 10 written, ")
    bar = io.StringIO()
    reporter = Reporter(bar, io.StringIO())
    reporter.console = Console(file=bar, force_terminal=True, width=160)
    progress = _Progress(reporter, total=1_000, description="copy", written=0)
    progress.advance(400, 40)
    progress.bar.refresh()
    progress.close()
    assert "40 written" in bar.getvalue()
