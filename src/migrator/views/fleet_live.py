"""What `fleet apply` shows while it works: a line per target as it ends, a line per wave,
the summary; on a terminal also a live table (target, wave, state or phase, the step under
way, attempts, elapsed) that fits the terminal's width. Everything masked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from migrator.views.durations import elapsed
from migrator.views.values import visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from migrator.errors import ExitCode
    from migrator.fleet.ledger import RolloutRecord, TargetRecord
    from migrator.fleet.session import FleetSession
    from migrator.masking import Secrets

MARKS = {
    "moved": "✓",
    "in_phase": "=",
    "failed": "✗",
    "unreachable": "✗",
    "running": "!",
    "not_started": "-",
}


NARROW = 60
"""Under this many columns the table shows the target, its state and elapsed only."""


@dataclass
class _Row:
    name: str
    wave: str
    state: str = "pending"
    phase: str = ""
    step: str = ""
    attempts: int = 0
    started: float | None = None
    ended: float | None = None


class FleetView:
    """The people's side of one `fleet apply`: lines through `say` (stdout for text,
    stderr beside `--output json`), and on a terminal a rich Live table above them."""

    def __init__(
        self,
        say: Callable[[str], None],
        secrets: Secrets,
        out: TextIO,
        *,
        terminal: bool,
        targets: list[tuple[str, str]],
    ) -> None:
        self._say = say
        self.secrets = secrets
        self.out = out
        self.terminal = terminal
        self.rows = {name: _Row(name, wave) for name, wave in targets}
        self.bake: tuple[str, float] | None = None
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._console: Console | None = None
        if terminal:
            from rich.console import Console

            self._console = Console(file=out, force_terminal=True, highlight=False)

    # -- lines -----------------------------------------------------------------------------

    def say(self, line: str) -> None:
        """A line for a person (masked, its control characters written visibly: a message
        from a target or a child cannot drive the terminal); above the live table on a
        terminal."""
        line = visible(self.secrets.mask(line), lines=True)
        with self._lock:
            if self._console is not None:  # a terminal: wrapped to its width
                self._console.print(line, markup=False, highlight=False)
                self._refresh()
            else:
                self._say(line)

    def wave_started(self, wave: str, count: int, parallel: int) -> None:
        self.say(f"wave {wave}: {count} target(s), {parallel} at a time")

    def wave_ended(self, wave: str, counts: dict[str, int]) -> None:
        """`wave rest ended: 2 moved, 1 not started`: the words of the rollout's summary (a
        target still pending as its wave ends was never started)."""
        said: dict[str, int] = {}
        for state, n in counts.items():
            label = LABELS.get("not_started" if state == "pending" else state)
            label = label or state.replace("_", " ")
            said[label] = said.get(label, 0) + n
        shown = ", ".join(f"{n} {label}" for label, n in said.items() if n)
        self.say(f"wave {wave} ended: {shown or 'no targets'}")

    def target_started(self, name: str, phase: str | None, attempt: int) -> None:
        with self._lock:
            row = self.rows[name]
            row.state, row.phase, row.attempts = "running", phase or "", attempt
            row.started = row.started or time.monotonic()
            row.ended = None
            self._refresh()

    def target_event(self, name: str, event: dict[str, Any]) -> None:
        """A child's event: the step it started is the table's current step."""
        if event.get("kind") == "step" and event.get("status") == "started":
            with self._lock:
                self.rows[name].step = str(event.get("step") or "")
                self._refresh()

    def retrying(self, name: str, code: int, delay: float, attempt: int, of: int) -> None:
        with self._lock:
            self.rows[name].state = f"retry in {elapsed(delay)}"
        self.say(
            f"↻ {name}: exit {code}, trying again in {elapsed(delay)} (attempt {attempt} of {of})"
        )

    def target_ended(self, name: str, record: TargetRecord, to: str, skipped: bool) -> None:
        """The target's line as it ends, from its record in the ledger (`skipped`: found
        in the phase, nothing started)."""
        with self._lock:
            row = self.rows[name]
            row.state, row.phase, row.attempts = record.state, record.phase or "", record.attempts
            row.ended = time.monotonic()
            took = elapsed(row.ended - row.started) if row.started is not None else ""
            self._refresh()
        mark = "✗" if record.exit_code else MARKS.get(record.state, "?")
        if skipped:
            earlier = " (moved by this rollout before)" if record.state == "moved" else ""
            line = f"= {name}: already in {to}{earlier}"
        elif record.state == "moved" and not record.exit_code:
            runs = ", ".join(str(r) for r in record.runs)
            how = ", ".join(filter(None, [f"run {runs}" if runs else "", took]))
            line = f"{mark} {name}: {record.from_phase} -> {to}" + (f" ({how})" if how else "")
        else:
            tries = f" (after {record.attempts} attempts)" if record.attempts > 1 else ""
            line = f"{mark} {name}: exit {record.exit_code}{tries} — {record.message}"
        self.say(line)

    def not_started(self, name: str) -> None:
        with self._lock:
            self.rows[name].state = "not_started"
            self._refresh()

    def baking(self, wave: str | None, seconds: float = 0.0) -> None:
        """The bake's countdown under the table (None: the bake is over)."""
        with self._lock:
            self.bake = None if wave is None else (wave, time.monotonic() + seconds)
            self._refresh()

    def _caption(self) -> str | None:
        if self.bake is None:
            return None
        wave, deadline = self.bake
        return f"bake of wave {wave}: {elapsed(max(0.0, deadline - time.monotonic()))} left"

    # -- the live table --------------------------------------------------------------------

    @contextmanager
    def live(self) -> Iterator[FleetView]:
        """The live table while the rollout runs (on a terminal only)."""
        if self._console is None:
            yield self
            return
        from rich.live import Live

        live = Live(self._table(), console=self._console, refresh_per_second=4, transient=False)
        live.get_renderable = self._table  # type: ignore[method-assign]
        with self._lock:
            self._live = live
            live.start()
        try:
            yield self
        finally:
            with self._lock:
                self._live = None
                with suppress(Exception):
                    live.stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The live table stopped while a person is asked a question."""
        with self._lock:
            live = self._live
            self._live = None
            if live is not None:
                live.stop()
        try:
            yield
        finally:
            if live is not None:
                with self._lock:
                    self._live = live
                    live.start()

    def _refresh(self) -> None:
        if self._live is not None:
            with suppress(Exception):
                self._live.refresh()

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        def cell(value: str) -> Text:
            """Plain text, masked, control characters visible: a plan's step or phase
            name is never read as markup (`[/]` would break the table)."""
            return Text(visible(self.secrets.mask(value)))

        width = self._console.width if self._console is not None else 80
        wide = width >= NARROW
        table = Table(
            width=width,
            caption=self._caption(),
            caption_justify="left",
            box=None,
            pad_edge=False,
        )
        columns = (("target", 3), ("wave", 2), ("state", 2), ("step", 3))
        for column, ratio in columns if wide else (("target", 3), ("state", 2)):
            table.add_column(column, overflow="ellipsis", no_wrap=True, ratio=ratio)
        if wide:
            table.add_column("tries", no_wrap=True, justify="right", overflow="ellipsis")
        table.add_column("elapsed", no_wrap=True, justify="right", overflow="ellipsis")
        now = time.monotonic()
        with self._lock:
            for row in self.rows.values():
                shown = row.state if row.state != "moved" else f"moved: {row.phase}"
                if row.state in ("running", "pending") and row.phase:
                    shown = f"{row.state}: {row.phase}"
                took = ""
                if row.started is not None:
                    took = elapsed((row.ended or now) - row.started)
                name = cell(row.name)
                if not wide:
                    table.add_row(name, cell(shown), took)
                    continue
                step = cell(row.step if row.state == "running" else "")
                row_cells = (name, cell(row.wave), cell(shown), step)
                table.add_row(*row_cells, str(row.attempts or ""), took)
        return table


def with_target(name: str, message: str) -> str:
    """A command's advice (`migrator resume PLAN` ...) with the target it is for: run as it
    is, it would act on whatever database MIGRATOR_DSN names."""
    if "`migrator " not in message:
        return message
    return f"{message} (on target {name}: its DSN in --dsn or MIGRATOR_DSN)"


LABELS = {
    "moved": "moved",
    "in_phase": "already in the phase",
    "failed": "failed",
    "not_started": "not started",
    "unreachable": "unreachable",
    "running": "stopped under way",
}
"""A target state as the wave's and the rollout's summaries say it."""


def summary_line(counts: dict[str, int]) -> str:
    """`3 moved, 1 already in the phase, 1 failed, 2 not started, 0 unreachable`."""
    parts = [f"{counts.get(s, 0)} {label}" for s, label in LABELS.items() if s != "running"]
    if counts.get("running"):
        parts.append(f"{counts['running']} {LABELS['running']}")
    return ", ".join(parts)


def fleet_document(
    session: FleetSession, rollout: RolloutRecord, to: str, code: ExitCode
) -> dict[str, Any]:
    """`fleet apply --output json`: the rollout's end, a record per target of the fleet."""
    from migrator.fleet.ledger import dumped

    fields = ("wave", "state", "from_phase", "phase", "exit_code", "attempts", "runs", "message")
    targets = []
    for target in session.targets:
        record = dumped(rollout.targets[target.name])
        targets.append({"name": target.name, **{k: record[k] for k in fields}})
    return {
        "fleet": session.fleet.name,
        "plan": session.plan.name,
        "to": to,
        "rollout": rollout.id,
        "exit_code": int(code),
        "result": code.name.lower(),
        "ledger": session.ledger.where,
        "waves": [
            {"name": wave.name, "targets": [t.name for t in members]}
            for wave, members in session.waves()
        ],
        "targets": targets,
    }
