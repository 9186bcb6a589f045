"""Progress of long steps: plain lines without a terminal, a live display on one that
keeps its figures at any width, nothing beside JSON. The clock is the test's: rates and
times are exact, and nothing waits."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from migrator.views.console import Reporter
from migrator.views.durations import elapsed
from migrator.views.progress import _Progress, fitted, per_second
from migrator.views.rate import RateWindow

LONG = (
    "backfill unified payloads from the historical scoring results "
    "into the new partitioned table, batch by batch, at night, while the service runs"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain(out: io.StringIO | None = None, **kwargs: object) -> tuple[_Progress, io.StringIO]:
    out = out or io.StringIO()
    kwargs.setdefault("every", 0.0)
    return _Progress(Reporter(out, io.StringIO()), **kwargs), out  # type: ignore[arg-type]


def on_a_terminal(width: int, **kwargs: object) -> tuple[_Progress, io.StringIO]:
    out = io.StringIO()
    reporter = Reporter(out, io.StringIO())
    reporter.console = Console(file=out, force_terminal=True, width=width)
    return _Progress(reporter, **kwargs), out  # type: ignore[arg-type]


def drawn(progress: _Progress, width: int) -> list[str]:
    """The display as the terminal shows it at `width` columns, without its colours."""
    console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    console.print(progress.display)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).splitlines()


def test_without_a_terminal_a_plain_line_with_every_figure() -> None:
    clock = Clock()
    progress, out = plain(total=10_000, description="copy", clock=clock, written=0)
    clock.now += 10
    progress.advance(2_500, 500)
    progress.status("paused")
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "  copy: 2,500 of 10,000 rows (25%), 500 written, 250 rows/s, 30.0 s left, 10.0 s elapsed",
        "  copy: paused",
    ]


def test_the_rate_and_the_time_left_are_one_window() -> None:
    # 3,000 rows in the first 30 s, then a pause of 60 s: an average since the start
    # would say 33 rows/s and 4 minutes; the window says the step is not moving.
    clock = Clock()
    progress, _ = plain(total=10_000, clock=clock, every=3600.0)
    for _ in range(30):
        clock.now += 1
        progress.advance(100)
    assert "100 rows/s" in progress.line() and "1 min 10 s left" in progress.line()
    clock.now += 60
    assert progress.line() == (
        "3,000 of 10,000 rows (30%), 0 rows/s, time left unknown, 1 min 30 s elapsed"
    )
    clock.now += 1
    progress.advance(100)  # it moves again: the figure and the time left agree
    # over the window: from the last sample before the pause, 100 rows in 61 s
    assert elapsed(6_900 / (100 / 61)) == "1 h 10 min"
    assert progress.line() == (
        "3,100 of 10,000 rows (31%), 1.6 rows/s, 1 h 10 min left, 1 min 31 s elapsed"
    )


def test_an_estimated_total_says_so() -> None:
    progress, out = plain(total=9, estimated=True)
    progress.advance(3)
    assert "3 of 9 rows (33%, estimated total)" in out.getvalue()


def test_without_a_total_rows_and_the_rate() -> None:
    clock = Clock()
    progress, out = plain(total=None, description="copy", clock=clock)
    clock.now += 2
    progress.advance(50)
    assert out.getvalue() == "  copy: 50 rows, 25 rows/s, 2.0 s elapsed\n"


def test_lines_wait_for_their_interval() -> None:
    progress, out = plain(total=100, every=3600.0)
    for _ in range(10):
        progress.advance(10)
    assert out.getvalue() == ""  # not a line per batch


def test_beside_json_output_nothing_is_printed() -> None:
    out, err = io.StringIO(), io.StringIO()
    progress = _Progress(Reporter(out, err, output="json"), total=100, every=0.0)
    progress.advance(50)
    progress.status("paused")
    assert out.getvalue() == "" and err.getvalue() == ""


def test_a_wait_is_said_once_and_its_end_too() -> None:
    progress, out = plain(total=100, description="copy", every=3600.0)
    progress.status("paused")
    progress.status("paused")
    progress.status("running")
    assert out.getvalue().splitlines() == ["  copy: paused", "  copy: running"]


def test_on_a_terminal_a_live_display_that_goes_away() -> None:
    progress, out = on_a_terminal(120, total=1_000, description="copy")
    assert progress.bar is not None
    progress.advance(400)
    progress.bar.refresh()
    progress.close()
    assert progress.bar is None
    assert "copy" in out.getvalue() and "400 of 1,000 rows (40%)" in out.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_at_any_width_the_name_is_shortened_never_a_figure(width: int) -> None:
    clock = Clock()
    progress, _ = on_a_terminal(
        width,
        total=27_000,
        description=LONG,
        written=0,
        streams=4,
        clock=clock,
    )
    progress.close()
    clock.now += 6
    progress.advance(600, 150)
    lines = drawn(progress, width)
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].startswith("  backfill unified payloads") and lines[0].endswith("…")
    shown = " ".join(lines)
    for figure in (
        "600 of 27,000 rows (2%)",
        "150 written",
        "100 rows/s",
        "4 min 24 s left",
        "6.0 s elapsed",
        "4 streams",
    ):
        assert figure in shown, (figure, lines)


def test_a_short_name_and_the_figures_share_a_line_with_the_bar() -> None:
    clock = Clock()
    progress, _ = on_a_terminal(120, total=1_000, description="copy", clock=clock)
    progress.close()
    clock.now += 4
    progress.advance(400)
    lines = drawn(progress, 120)
    assert lines[0] == "  copy"
    assert lines[1].endswith("400 of 1,000 rows (40%) · 100 rows/s · 6.0 s left · 4.0 s elapsed")
    assert "━" in lines[1]  # the bar, before the figures


def test_one_stream_is_not_counted() -> None:
    progress, _ = plain(total=10, streams=1)
    assert "stream" not in progress.line()


@pytest.mark.parametrize("width", [80, 120])
def test_a_pause_is_shown_while_it_lasts(width: int) -> None:
    progress, _ = on_a_terminal(width, total=100, description=LONG)
    progress.close()
    progress.status("paused")
    assert drawn(progress, width)[0].endswith("… — paused")
    progress.status("the throttle query holds")
    assert drawn(progress, width)[0].endswith(" — the throttle query holds")
    progress.status("running")  # continue: nothing said any more (not "(running)")
    first = drawn(progress, width)[0]
    assert "running" not in first and "paused" not in first and "—" not in first


def test_the_name_is_masked_before_it_is_shortened() -> None:
    secret = "tok-6f1c2a9e4b7d8c3f5a0e"
    progress, _ = on_a_terminal(80, total=10, description="copy " + "x" * 60 + secret)
    progress.close()
    progress.reporter.secrets.add(secret)
    first = drawn(progress, 80)[0]
    assert "tok-6f1c" not in first and first.endswith("***")


def test_what_it_waits_for_is_masked_and_not_markup() -> None:
    secret = "tok-6f1c2a9e4b7d8c3f5a0e"
    progress, _ = on_a_terminal(80, total=10, description="copy")
    progress.close()
    progress.reporter.secrets.add(secret)
    progress.status(f"waiting for [bold]{secret}[/bold]")
    assert drawn(progress, 80)[0] == "  copy — waiting for [bold]***[/bold]"


def test_a_name_with_brackets_is_not_markup() -> None:
    progress, _ = on_a_terminal(80, total=10, description="copy [bold]x[/bold]")
    progress.close()
    assert drawn(progress, 80)[0] == "  copy [bold]x[/bold]"


def test_figures_wrap_between_figures() -> None:
    assert fitted(["aaaa", "bbbb", "cc"], 11) == ["aaaa · bbbb", "cc"]
    assert fitted(["a" * 20, "b"], 5) == ["a" * 20, "b"]  # never cut


def test_one_duration_format() -> None:
    assert [elapsed(s) for s in (0.2, 6.04, 59.9, 60, 252.4, 3600, 7_530)] == [
        "200 ms",
        "6.0 s",
        "59.9 s",
        "1 min 0 s",
        "4 min 12 s",
        "1 h 00 min",
        "2 h 05 min",
    ]


def test_the_bar_keeps_its_width_as_the_figures_change() -> None:
    clock = Clock()
    progress, _ = on_a_terminal(120, total=1_000_000, description="copy", clock=clock)
    progress.close()
    clock.now += 100
    progress.advance(500_000)
    before = drawn(progress, 120)[1]
    clock.now += 1
    progress.advance(499_000)
    after = drawn(progress, 120)[1]  # shorter figures: the bar stays as it was
    assert "101 ms left" in after and len(after) < len(before)
    assert after.index(" 999,000 of") == before.index(" 500,000 of")


def test_a_slow_step_is_not_shown_standing_still() -> None:
    clock = Clock()
    progress, _ = plain(total=1_000_000, clock=clock)
    clock.now += 10
    progress.advance(1)
    assert "0.1 rows/s, 2777 h 46 min left" in progress.line()  # not "0 rows/s"


def test_rates() -> None:
    assert [per_second(r) for r in (0, 0.004, 0.25, 1.5, 9.96, 12.4, 12_345.6)] == [
        "0",
        "under 0.01",
        "0.25",
        "1.5",
        "10",
        "12",
        "12,346",
    ]


def test_while_paused_no_time_left_and_after_it_the_rate_of_now() -> None:
    # ~85 s were left at 100 rows/s; a pause of 10 minutes; 3 s after continue the
    # rate is the step's again (not the pause spread over the window: "33 rows/s")
    clock = Clock()
    progress, _ = plain(total=11_500, clock=clock, every=3600.0)
    for _ in range(30):
        clock.now += 1
        progress.advance(100)
    progress.status("paused")
    clock.now += 600
    assert "no time left while paused" in progress.line()
    assert " left" not in progress.line().replace("no time left", "")
    progress.status("running")
    for _ in range(3):
        clock.now += 1
        progress.advance(100)
    assert "100 rows/s, 1 min 22 s left" in progress.line()


def test_control_characters_in_a_name_reach_no_terminal() -> None:
    progress, out = plain(total=10, description="copy\x1b[2J\x07")
    progress.advance(5)
    progress.status("paused\x1b]0;x\x07")
    assert "\x1b" not in out.getvalue() and "\x07" not in out.getvalue()
    assert "copy\\x1b[2J\\x07: paused\\x1b]0;x\\x07" in out.getvalue()
    drawn_progress, _ = on_a_terminal(80, total=10, description="copy\x1b[2J")
    drawn_progress.close()
    assert drawn(drawn_progress, 80)[0] == "  copy\\x1b[2J"


def test_the_rate_window_keeps_about_a_hundred_samples_at_any_batch_rate() -> None:
    window = RateWindow(window=30.0)
    for i in range(30_000):  # a batch a millisecond for 30 s
        window.add(1000.0 + i / 1000, i)
    assert len(window.samples) <= 120
    assert window.samples[-1] == (1000.0 + 29_999 / 1000, 29_999)
    assert window.rate() == pytest.approx(1000.0, rel=0.01)
