"""What the operator sees: a line per check and step (rich on a terminal, plain otherwise),
a JSON document for scripts, and optionally one JSON log line per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from migrator.db.lockwait import Blocker
from migrator.masking import Secrets
from migrator.state.kinds import EventKind, EventStatus, RunStatus
from migrator.views.durations import elapsed

LogFormat = Literal["text", "json"]

_MARK: dict[str, str] = {
    EventStatus.PASSED: "[green]✓[/]",
    EventStatus.DONE: "[green]✓[/]",
    RunStatus.SUCCEEDED: "[green]✓[/]",
    EventStatus.APPROVED: "[green]✓[/]",
    EventStatus.WARNED: "[yellow]![/]",
    EventStatus.SKIPPED: "[yellow]-[/]",
    EventStatus.NOT_UNDONE: "[yellow]![/]",
    EventStatus.RETRY: "[yellow]↻[/]",
    EventStatus.FAILED: "[red]✗[/]",  # and RunStatus.FAILED, the same word
    EventStatus.DECLINED: "[red]✗[/]",
    RunStatus.UNDONE: "[cyan]↶[/]",
}
_ENDED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.UNDONE, RunStatus.UNDO_FAILED)


class Reporter:
    """Receives every event the engine records and shows it to the operator."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        output: str = "text",
        log_format: LogFormat | None = None,
        secrets: Secrets | None = None,
    ) -> None:
        from rich.console import Console

        self.output = output
        self.log_format = log_format
        self.secrets = secrets or Secrets()
        self.events: list[dict[str, Any]] = []
        self.err = err
        # People read stderr beside a JSON document on stdout.
        target = err if output == "json" else out
        self.console = Console(file=target, highlight=False, soft_wrap=True)

    def say(self, text: str, style: str | None = None) -> None:
        from rich.markup import escape

        line = escape(self.secrets.mask(text))
        self.console.print(f"[{style}]{line}[/]" if style else line)

    def event(self, plan: str, run_id: int, event: dict[str, Any]) -> None:
        event = self.secrets.mask_data(event)
        self.events.append({"run_id": run_id, **event})
        if self.log_format == "json":
            line = {"at": datetime.now(UTC).isoformat(), "plan": plan, "run_id": run_id, **event}
            self.err.write(json.dumps(line, default=str) + "\n")
            self.err.flush()
        self._show(event)

    def _show(self, event: dict[str, Any]) -> None:
        from rich.markup import escape

        kind, status = event["kind"], event["status"]
        detail = event.get("detail") or {}
        step = event.get("step")
        mark = _MARK.get(status, " ")
        took = _duration(detail.get("seconds"))
        if kind == EventKind.CHECK:
            phase = detail.get("phase", "")
            actual = detail.get("actual")
            text = f"{phase}-check {step}: {status}"
            if "expected" in detail:
                text += f" (actual {actual!r}, expected {detail['expected']})"
            if detail.get("detail"):
                text += f" — {detail['detail']}"
            self.console.print(f"  {mark} {escape(text)}{took}")
        elif kind in (EventKind.STEP, EventKind.UNDO):
            if status == EventStatus.STARTED:
                return
            action = detail.get("action", "")
            verb = "undo " if kind == EventKind.UNDO else ""
            text = f"{verb}{step} ({action}): {status}"
            if status == EventStatus.RETRY:
                text = f"{verb}{step} ({action}): {_retry(detail)}"
            elif detail.get("error"):
                text += f" — {detail['error']}"
            elif detail.get("reason"):
                text += f" — {detail['reason']}"
            self.console.print(f"  {mark} {escape(text)}{took}")
        elif kind == EventKind.APPROVAL:
            who = detail.get("operator", "")
            said = f"approval: {status} by {who}"
            if status == EventStatus.DECLINED:  # why: at the terminal, or none to ask on
                by = f" by {who}" if detail.get("via") == "terminal" else ""
                said = f"not approved: {detail.get('reason') or status}{by}"
            self.console.print(f"  {mark} {escape(said)}")
        elif kind == EventKind.STATE and status in _ENDED:
            style = {RunStatus.SUCCEEDED: "green", RunStatus.UNDONE: "yellow"}.get(status, "red")
            reason = f": {detail['reason']}" if detail.get("reason") else ""
            self.console.print(f"  [{style}]{escape(f'run {status}{reason}')}[/]")
        elif kind == "note":
            self.console.print(f"  {escape(str(detail.get('message', '')))}")


def _retry(detail: dict[str, Any]) -> str:
    """A retry of a step, an undo or a part of a step (a batch): which attempt failed,
    when the next comes, why, and who held the lock it waited for."""
    part = f" of {detail['part']}" if detail.get("part") else ""
    pause = detail.get("pause")
    again = f", again in {pause:g}s" if isinstance(pause, int | float) else ""
    text = f"retry{part} after attempt {detail.get('attempt', '?')}{again}"
    error = str(detail.get("error") or "")
    blockers = [b for b in detail.get("blockers") or [] if isinstance(b, dict)]
    if blockers and "blocked by" not in error:
        error += " — blocked by " + "; ".join(str(Blocker.from_dict(b)) for b in blockers)
    return f"{text} — {error}" if error else text


def _duration(seconds: Any) -> str:
    took = elapsed(seconds)
    return f" [dim]{took}[/]" if took else ""
