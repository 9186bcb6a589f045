"""A long step's progress as the operator sees it: on a terminal a live display that
keeps its figures whatever the width (the step's name is shortened, never a figure),
otherwise a plain line every few seconds with the same figures.

The figures: rows done of the total with the percent, rows written (when the step
counts them apart), the rate, the time left, the time elapsed, the streams (when more
than one). The rate and the time left come from one `RateWindow`, so they agree: a
pause shows as a falling rate and no time left, and both recover after it. What the
step waits for (`paused`, the throttle query) is shown while it lasts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from migrator.views.console import Reporter
from migrator.views.durations import elapsed
from migrator.views.rate import RateWindow
from migrator.views.values import visible

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

INDENT = 2
SEPARATOR = " · "
BAR_MIN = 10
BAR_MAX = 40
RUNNING = "running"


def per_second(rate: float) -> str:
    """A rate as a person reads it: whole rows from 10 a second, two digits below (a
    slow step is not shown standing still: `0.25`), `under 0.01` near standing still."""
    if rate >= 10 or rate == 0:
        return f"{rate:,.0f}"
    return f"{rate:.2g}" if rate >= 0.01 else "under 0.01"


class Figures:
    """How far a step is, as the words the bar and the plain line share."""

    def __init__(
        self,
        *,
        total: int | None,
        done: int,
        estimated: bool,
        written: int | None,
        streams: int | None,
        started: float,
        clock: Callable[[], float],
    ) -> None:
        self.total = total
        self.done = done
        self.estimated = estimated
        self.written = written  # None: the step does not count rows written apart
        self.streams = streams
        self.started = started
        self.clock = clock
        self.window = RateWindow(samples=[(started, done)])
        self.waiting = ""  # what the step waits for now ("paused"), "" while it runs

    def advance(self, rows: int, written: int | None) -> None:
        self.done += rows
        if written is not None:
            self.written = (self.written or 0) + written
        self.window.add(self.clock(), self.done)

    def wait(self, waiting: str) -> None:
        """What the step waits for now ("" while it runs). When a wait ends the rate is
        measured afresh: the rows of before the wait, spread over it, are not the rate
        of the step as it goes on."""
        if self.waiting and not waiting:
            self.window = RateWindow(samples=[(self.clock(), self.done)])
        self.waiting = waiting

    def percent(self) -> int | None:
        if not self.total:
            return None
        return int(self.done * 100 / self.total)

    def pieces(self) -> list[str]:
        """Each figure, in the order shown; none of them is ever cut."""
        now = self.clock()
        rate = self.window.rate(now)
        left = self.window.seconds_left(self.total, self.done, now)
        if self.total is not None:
            percent = self.percent()
            notes = [f"{percent}%"] if percent is not None else []
            notes += ["estimated total"] if self.estimated else []
            rows = f"{self.done:,} of {self.total:,} rows"
            rows += f" ({', '.join(notes)})" if notes else ""
        else:
            rows = f"{self.done:,} rows"
        shown = [rows]
        if self.written is not None:
            shown.append(f"{self.written:,} written")
        shown.append(f"{per_second(rate)} rows/s" if rate is not None else "rate not known yet")
        if self.total is not None and self.waiting:  # no time left while it stands still
            shown.append(
                "no time left while " + ("paused" if self.waiting == "paused" else "it waits")
            )
        elif self.total is not None:
            shown.append(f"{elapsed(left)} left" if left is not None else "time left unknown")
        shown.append(f"{elapsed(max(now - self.started, 0.0))} elapsed")
        if self.streams and self.streams > 1:
            shown.append(f"{self.streams} streams")
        return shown


def fitted(pieces: Iterable[str], width: int) -> list[str]:
    """`pieces` joined into lines of at most `width` cells, broken between pieces only
    (a piece wider than `width` alone on its line: it is never cut)."""
    from rich.cells import cell_len

    lines: list[str] = []
    line = ""
    for piece in pieces:
        joined = f"{line}{SEPARATOR}{piece}" if line else piece
        if line and cell_len(joined) > width:
            lines.append(line)
            joined = piece
        line = joined
    if line:
        lines.append(line)
    return lines


class _Display:
    """The terminal's view of the step, laid out anew for the console's width at each
    refresh: the name (shortened with `…`) and what the step waits for on the first
    line; the bar and the figures on the next, the figures wrapping between figures
    when the width is short."""

    def __init__(
        self, name: Callable[[int], str], figures: Figures, mask: Callable[[str], str]
    ) -> None:
        self.name = name
        self.figures = figures
        self.mask = mask
        self.widest = 0  # the figures' widest yet: the bar keeps its width as they change

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(max(options.max_width, INDENT + 1))

    def lines(self, width: int) -> Iterator[Any]:
        from rich.cells import cell_len
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        room = width - INDENT
        waiting = self.figures.waiting
        state = f" — {visible(self.mask(waiting))}" if waiting else ""
        title = Text(" " * INDENT)
        title.append(self.name(max(room - cell_len(state), 1)), style="bold")
        if state:
            title.append(state, style="yellow")  # plain text: `[...]` in it is not markup
        title.truncate(width, overflow="ellipsis")
        if title.plain.strip():
            yield title
        figures = self.figures.pieces()
        text = SEPARATOR.join(figures)
        self.widest = max(self.widest, cell_len(text))
        bar_width = min(BAR_MAX, room - self.widest - 1)
        total = self.figures.total
        bar = ProgressBar(
            total=float(total) if total else None,
            completed=float(self.figures.done),
            width=max(bar_width, BAR_MIN),
            pulse=not total,
        )
        if bar_width >= BAR_MIN:
            row = Table.grid()
            row.add_column(width=INDENT)
            row.add_column(width=bar_width)
            row.add_column()
            row.add_row("", bar, " " + text)
            yield row
            return
        bar.width = min(BAR_MAX, max(room, 1))
        row = Table.grid()
        row.add_column(width=INDENT)
        row.add_column()
        row.add_row("", bar)
        yield row
        for line in fitted(figures, room):
            yield Text(" " * INDENT + line)


class _Progress:
    """A live display on a terminal; otherwise a plain line every `every` seconds."""

    def __init__(
        self,
        reporter: Reporter,
        *,
        total: int | None,
        done: int = 0,
        description: str = "",
        estimated: bool = False,
        every: float = 5.0,
        written: int | None = None,
        streams: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reporter = reporter
        self.description = description
        self.every = every
        self.clock = clock
        started = clock()
        self.last_line = started
        self.figures = Figures(
            total=total,
            done=done,
            estimated=estimated,
            written=written,
            streams=streams,
            started=started,
            clock=clock,
        )
        self.display = _Display(self._name, self.figures, reporter.secrets.mask)
        self.bar: Any = None
        console = reporter.console
        if reporter.output == "text" and console.is_terminal:
            from rich.live import Live

            self.bar = Live(
                get_renderable=lambda: self.display,
                console=console,
                transient=True,
                refresh_per_second=2,
            )
            self.bar.start()

    @property
    def done(self) -> int:
        return self.figures.done

    @property
    def written(self) -> int | None:
        return self.figures.written

    def _name(self, width: int) -> str:
        # Masked before it is cut (half a secret would no longer match the mask), and
        # escaped by the caller's Text: `[...]` in a step's name is not markup.
        return self.reporter.secrets.shorten(visible(self.description), width)

    def advance(self, rows: int, written: int | None = None) -> None:
        self.figures.advance(rows, written)
        if self.bar is not None:
            return  # the live display redraws itself
        now = self.clock()
        if now - self.last_line >= self.every and self.reporter.output == "text":
            self.last_line = now
            self.reporter.say(f"  {visible(self.description)}: {self.line()}")

    def line(self) -> str:
        """The figures as the plain line shows them."""
        return ", ".join(self.figures.pieces())

    def status(self, text: str) -> None:
        """What the step waits for now; "running" clears it."""
        waiting = "" if text == RUNNING else text
        if waiting == self.figures.waiting:
            return
        self.figures.wait(waiting)
        if self.bar is not None:
            self.bar.refresh()
        elif self.reporter.output == "text":
            self.reporter.say(f"  {visible(self.description)}: {visible(text)}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def progress_for(reporter: Reporter) -> Any:
    def make(**kwargs: Any) -> _Progress:
        return _Progress(reporter, **kwargs)

    return make
