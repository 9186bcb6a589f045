"""What the operator sees: a line per check and step (rich on a terminal, plain otherwise),
a JSON document for scripts, and optionally one JSON log line per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from migrator.db.lockwait import Blocker
from migrator.errors import ExitCode, on_one_line
from migrator.masking import Secrets
from migrator.state.kinds import EventKind, EventStatus, RunStatus
from migrator.views.differences import difference_lines, named_part
from migrator.views.durations import elapsed
from migrator.views.values import cut, shown, visible

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
        # People read stderr beside a document (JSON, Markdown) on stdout.
        target = out if output == "text" else err
        self.console = Console(file=target, highlight=False, soft_wrap=True)

    def say(self, text: str, style: str | None = None) -> None:
        """A line for a person (masked, never markup); on a terminal each of its lines
        wrapped to the width at its own indent."""
        from rich.markup import escape

        line = escape(visible(self.secrets.mask(text), lines=True))
        if not self.console.is_terminal:
            self.console.print(f"[{style}]{line}[/]" if style else line)
            return
        for each in line.split("\n"):
            indent = len(each) - len(each.lstrip(" "))
            self._lines(each[indent:], indent, style)

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
            self._check(event, mark, took)
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
            failed = status in (EventStatus.FAILED, RunStatus.UNDO_FAILED)
            text = visible(text, lines=True)  # an error's lines stay lines
            shown_text = f"[red]{escape(text)}[/]" if failed else escape(text)
            self._lines(f"{mark} {shown_text}{took}", 2, hang=4)
        elif kind == EventKind.APPROVAL:
            who = detail.get("operator", "")
            said = f"approval: {status} by {who}"
            if status == EventStatus.DECLINED:  # why: at the terminal, or none to ask on
                by = f" by {who}" if detail.get("via") == "terminal" else ""
                said = f"not approved: {detail.get('reason') or status}{by}"
            self.console.print(f"  {mark} {escape(visible(said))}")
        elif kind == EventKind.STATE and status in _ENDED:
            style = {RunStatus.SUCCEEDED: "green", RunStatus.UNDONE: "yellow"}.get(status, "red")
            reason = f": {detail['reason']}" if detail.get("reason") else ""
            self.console.print(f"  [{style}]{escape(visible(f'run {status}{reason}'))}[/]")
        elif kind == EventKind.HOOK:  # a plugin's warning (a notification not delivered)
            said = str(detail.get("detail", "")) if isinstance(detail, dict) else str(detail)
            self.console.print(f"  [yellow]! {escape(visible(said))}[/]")
        elif kind == "note":
            self.console.print(f"  {escape(visible(str(detail.get('message', ''))))}")

    def _check(self, event: dict[str, Any], mark: str, took: str) -> None:
        """`✓ pre-check NAME: passed (actual 40, expected 0)`: values as values, of an
        actual mapping only what the expectation names, a long one cut (the whole value is
        in the event). On a terminal, values that would not fit the line go on their own
        line under it. Under it, indented, what the check says (its detail), and for a
        failed check in red its differences as data, a line each."""
        from rich.markup import escape

        status, detail = event["status"], event.get("detail") or {}
        failed = status == EventStatus.FAILED
        style = "red" if failed else None
        text = visible(f"{detail.get('phase', '')}-check {event.get('step')}: {status}")
        under: list[str] = []
        if "expected" in detail:
            expected = detail["expected"]
            actual = named_part(detail.get("actual"), expected)
            values = f"actual {shown(actual)}, expected {shown(expected)}"
            width = self.console.width
            if not self.console.is_terminal or len(text) + len(values) + 16 <= width:
                text += f" ({_values(actual, expected, width - len(text) - 16)})"
            else:
                under.append(_values(actual, expected, width - 6))
        line = f"[red]{escape(text)}[/]" if failed else escape(text)
        self._lines(f"{mark} {line}{took}", 2, hang=4)
        under += map(visible, str(detail.get("detail") or "").splitlines())
        if failed or status == EventStatus.WARNED:
            width = self.console.width - 6
            under += map(visible, difference_lines(detail.get("differences") or (), width))
        for said in under:
            self._lines(escape(said), 6, style)

    def _lines(
        self, markup: str, indent: int, style: str | None = None, *, hang: int | None = None
    ) -> None:
        """A line at `indent`: on a terminal wrapped to its width, each wrapped line at
        `hang` (default: the same indent); otherwise whole, as a log keeps it."""
        if not self.console.is_terminal:
            self.console.print(" " * indent + markup, style=style)
            return
        from rich.text import Text

        text = Text.from_markup(markup, style=style or "")
        hang = indent if hang is None else hang
        wrapped = text.wrap(self.console, max(self.console.width - indent, 20))
        first, *rest = list(wrapped) or [Text()]
        first.rstrip()
        self.console.print(Text(" " * indent) + first)
        if hang == indent:
            for line in rest:
                line.rstrip()
                self.console.print(Text(" " * indent) + line)
        elif rest:  # the rest wrapped again, at the hanging indent
            tail = Text(" ").join(rest)
            for line in tail.wrap(self.console, max(self.console.width - hang, 20)):
                line.rstrip()
                self.console.print(Text(" " * hang) + line)


def _values(actual: Any, expected: Any, room: int) -> str:
    """`actual A, expected B` in `room` characters if it can: the long value cut, the
    short one whole, or both cut in half (never to less than 24 characters); the same
    value once, `as expected: A`."""
    a, e = shown(actual), shown(expected)
    if a == e and len(a) > 24 and len(f"actual {a}, expected {e}") > room:
        return f"as expected: {shown(actual, max(24, room - 13))}"
    budget = room - len("actual , expected ")
    if len(a) + len(e) <= budget:
        return f"actual {a}, expected {e}"
    if len(e) <= budget - 24:  # the expected value whole, the actual one cut
        a = shown(actual, budget - len(e))
    elif len(a) <= budget - 24:
        e = shown(expected, budget - len(a))
    else:
        half = max(24, budget // 2)  # a short value is never cut: it says more whole
        a, e = shown(actual, half), shown(expected, half)
    return f"actual {a}, expected {e}"


def ended_line(
    plan: str,
    before: str | None,
    phase: str,
    code: int,
    *,
    reason: str | None = None,
    plan_file: str = "PLAN",
) -> tuple[str, str]:
    """The last line of apply, rollback and resume: the phase the plan is in and what
    the exit code means (SPEC.md, "Exit codes"); with its style."""
    plan_file = on_one_line(plan_file)
    settle = f"`migrator resume {plan_file}` or `migrator rollback {plan_file}` settles it"
    moved = before is not None and before != phase
    if code == ExitCode.OK:
        return f"plan {plan} is {'now ' if moved else ''}in phase {phase} (exit 0)", "green"
    stays = f"plan {plan} {'is now in' if moved else 'stays in'} phase {phase}"
    if code == ExitCode.CHECK_FAILED:
        why = (reason or "").strip()
        if "nothing was applied" not in why:
            # "step NAME failed: ERROR": the error is on the lines above; what failed here
            why = why.split(": ")[0] if why.startswith("step ") else why
            why = f"{why or 'a check failed'} and what the run did was undone"
        return f"{stays}: {cut(why, 200)} (exit 1)", "red"
    if code == ExitCode.UNDO_FAILED:
        return (
            f"{stays}: undoing failed, the run needs a person; {settle} (exit 3)",
            "red",
        )
    if code in (ExitCode.SIGINT, ExitCode.SIGTERM):
        signal = "SIGINT" if code == ExitCode.SIGINT else "SIGTERM"
        return (
            f"{stays}: stopped by {signal}, the run is interrupted; {settle} (exit {int(code)})",
            "yellow",
        )
    if code == ExitCode.INTERNAL:
        return (
            f"{stays}: an internal error left the run interrupted; {settle} (exit 6)",
            "red",
        )
    return f"plan {plan} is in phase {phase} (exit {int(code)})", "yellow"


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


class Unpadded:
    """`renderable` with no spaces at the end of its lines (a table pads its cells)."""

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.segment import Segment

        for line in console.render_lines(self.renderable, options, pad=False):
            while line and not line[-1].control and not line[-1].text.strip(" "):
                line.pop()
            if line and not line[-1].control:
                line[-1] = Segment(line[-1].text.rstrip(" "), line[-1].style)
            yield from line
            yield Segment.line()


def terminal_width(out: TextIO) -> int:
    """The width rich gives a console on `out`: COLUMNS, else the terminal's, else 80."""
    from rich.console import Console

    return Console(file=out).width


def wrapped(text: str, width: int, indent: str, more: str | None = None) -> str:
    """`text` as a paragraph of lines that fit `width`: each at `indent` (continuations at
    `more`, default the same), broken between words only (a word longer than the line,
    a URL or a path, stays whole)."""
    import textwrap

    lines = textwrap.wrap(
        text,
        width=max(width, len(indent) + 20),
        initial_indent=indent,
        subsequent_indent=indent if more is None else more,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "".join(f"{line}\n" for line in lines or [indent])
