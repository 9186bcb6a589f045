"""A long step's progress, shown and recorded: the bar or lines the operator sees
(`migrator.views.console`), and the row of `migrator.progress` a second terminal reads
(`migrator status`).

The record is written on a connection of the engine's pool, never inside a batch's
transaction, at most once every `EVERY` seconds and whenever what the step waits for
changes; a write that fails (a lost connection) is skipped for `QUIET` seconds: status
is a view, and losing a moment of it must never fail or slow the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migrator.plugin.context import Progress
from migrator.plugin.reporting import ProgressReport
from migrator.state.progress import StepProgress, record_progress
from migrator.views.rate import RateWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

EVERY = 1.0
QUIET = 10.0


class RecordedProgress(Progress):
    """`display` (what the operator sees) and the step's row in `migrator.progress`."""

    def __init__(
        self,
        display: Progress,
        db: Engine,
        run_id: int,
        step: str,
        *,
        total: int | None = None,
        done: int = 0,
        estimated: bool = False,
        written: int | None = None,
        streams: int | None = None,
        clock: Callable[[], float] = time.time,
        tell: Callable[[ProgressReport], None] | None = None,
    ) -> None:
        self.display = display
        self.tell = tell
        self.batches = 0
        self.db = db
        self.clock = clock
        self.window = RateWindow()
        self.state = StepProgress(
            run_id=run_id,
            step=step,
            rows_done=done,
            rows_total=total,
            estimated=estimated,
            rows_written=written,
            streams=streams,
        )
        self.written_at = -EVERY
        self.quiet_until = 0.0
        self.window.add(clock(), done)
        self._write(force=True)

    def advance(self, rows: int, written: int | None = None) -> None:
        self.display.advance(rows, written)
        now = self.clock()
        done = self.state.rows_done + rows
        self.window.add(now, done)
        self._change(
            rows_done=done,
            rows_written=(
                self.state.rows_written
                if written is None
                else (self.state.rows_written or 0) + written
            ),
            last_batch_at=datetime.fromtimestamp(now, UTC),
        )
        self.batches += 1
        self._write()
        self._tell()

    def status(self, text: str) -> None:
        self.display.status(text)
        waiting = "" if text == "running" else text
        if self.state.waiting and not waiting:  # a wait ended: the rate is measured afresh
            self.window = RateWindow(samples=[(self.clock(), self.state.rows_done)])
        self._change(waiting=waiting)
        self._write(force=True)
        self._tell()

    def close(self) -> None:
        self.display.close()
        self._write(force=True)
        self._tell(finished=True)

    def _tell(self, finished: bool = False) -> None:
        """The reporting hooks' `migrator_progress` (metrics), after each batch."""
        if self.tell is None:
            return
        state = self.state
        self.tell(
            ProgressReport(
                step=state.step,
                rows_done=state.rows_done,
                rows_total=state.rows_total,
                rows_written=state.rows_written,
                batches=self.batches,
                rate=self.window.rate(self.clock()),
                waiting=state.waiting or "",
                finished=finished,
            )
        )

    def _change(self, **changes: Any) -> None:
        from dataclasses import replace

        self.state = replace(self.state, **changes)

    def _write(self, force: bool = False) -> None:
        now = self.clock()
        if now < self.quiet_until or (not force and now - self.written_at < EVERY):
            return
        self.written_at = now
        self.window.add(now, self.state.rows_done)  # the newest sample: when it is written
        record = self._with_samples()
        try:
            with self.db.begin() as conn:
                record_progress(conn, record)
        except Exception:  # status is a view: a lost write never fails the step
            self.quiet_until = now + QUIET

    def _with_samples(self) -> StepProgress:
        from dataclasses import replace

        return replace(self.state, samples=tuple(self.window.samples))


def recorded_progress(
    display: Callable[..., Progress],
    db: Engine,
    run_id: int | None,
    step: str | None,
    tell: Callable[[ProgressReport], None] | None = None,
) -> Callable[..., Progress]:
    """The `ctx.progress` of a step: shown by `display`, and recorded when the step
    belongs to a run (not a dry run); `tell`: the reporting hooks, after each batch."""

    def make(**kwargs: Any) -> Progress:
        shown = display(**kwargs)
        if run_id is None or step is None:
            return shown
        return RecordedProgress(
            shown,
            db,
            run_id,
            step,
            total=kwargs.get("total"),
            done=int(kwargs.get("done") or 0),
            estimated=bool(kwargs.get("estimated")),
            written=kwargs.get("written"),
            streams=kwargs.get("streams"),
            tell=tell,
        )

    return make
