"""A long step's progress as the operator sees it: a rich bar on a terminal, otherwise
a plain line every few seconds."""

from __future__ import annotations

import time
from typing import Any

from migrator.views.console import Reporter


class _Progress:
    """A rich progress bar on a terminal; otherwise a plain line every `every` seconds."""

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
    ) -> None:
        self.reporter = reporter
        self.streams = streams
        self.total = total
        self.done = done
        self.written = written  # None: the step does not count rows written apart
        # Masked before rich crops the label to the terminal's width, and escaped: rich
        # would read `[...]` in it as markup.
        from rich.markup import escape

        self.description = description
        self.label = escape(reporter.secrets.mask(description))
        self.estimated = estimated
        self.every = every
        self.started = time.monotonic()
        self.last_line = self.started
        self.started_at_done = done
        self.bar: Any = None
        self.task: Any = None
        console = reporter.console
        if reporter.output == "text" and console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows{task.fields[about]}{task.fields[written]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(
                self.label,
                total=total,
                completed=done,
                rate="",
                about=self._about(),
                written=self._written(),
            )

    def _about(self) -> str:
        return " (estimated total)" if self.estimated else ""

    def _rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self.started_at_done) / elapsed if elapsed > 0 else 0.0

    def _written(self) -> str:
        return f", {self.written:,} written" if self.written is not None else ""

    def advance(self, rows: int, written: int | None = None) -> None:
        self.done += rows
        if written is not None:
            self.written = (self.written or 0) + written
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=self.done,
                rate=f"{self._rate():,.0f} rows/s",
                written=self._written(),
            )
            return
        now_ = time.monotonic()
        if now_ - self.last_line >= self.every and self.reporter.output == "text":
            self.last_line = now_
            self.reporter.say(f"  {self.description}: {self._line()}")

    def _line(self) -> str:
        rate = self._rate()
        if self.total:
            share = f"{self.done:,} of {self.total:,} rows{self._about()}{self._written()}"
            left = max(self.total - self.done, 0) / rate if rate > 0 else None
            eta = f", about {left:.0f}s left" if left is not None else ""
            return f"{share}, {rate:,.0f} rows/s{eta}"
        return f"{self.done:,} rows{self._written()}, {rate:,.0f} rows/s"

    def status(self, text: str) -> None:
        if self.bar is not None:
            from rich.markup import escape

            shown = escape(self.reporter.secrets.mask(text))
            self.bar.update(self.task, description=f"{self.label} ({shown})")
        elif self.reporter.output == "text":
            self.reporter.say(f"  {self.description}: {text}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def progress_for(reporter: Reporter) -> Any:
    def make(**kwargs: Any) -> _Progress:
        return _Progress(reporter, **kwargs)

    return make
