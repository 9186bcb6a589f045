"""Names and values from a plan or a database cannot drive the operator's terminal: every
line the Reporter prints (a step, a check, its values and differences, a line said, the
history) writes control characters as `\\xNN` (views.values.visible), on a terminal and
off one. Rich's own colours are the only escape sequences left."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from migrator.views.console import Reporter

RED = "\x1b[31mred\x1b[0m"  # an SGR sequence: colours the rest of the terminal
TITLE = "\x1b]0;pwned\x07"  # an OSC sequence: sets the window's title
CLEAR = "\x1b[2J\r"  # clears the screen, then back to the start of the line
HOSTILE = f"{RED}{TITLE}{CLEAR}\x9b"


def _reporter(terminal: bool) -> tuple[Reporter, io.StringIO]:
    sink = io.StringIO()
    reporter = Reporter(sink, sink)
    reporter.console = Console(
        file=sink, width=100, force_terminal=terminal, highlight=False, soft_wrap=True
    )
    return reporter, sink


def _events() -> list[dict[str, Any]]:
    check = {
        "phase": "post",
        "actual": HOSTILE,
        "expected": "ok",
        "detail": f"said {HOSTILE}",
        "differences": [
            {
                "key": [{"name": f"id{RED}", "value": 1}],
                "columns": [{"name": f"c{TITLE}", "actual": HOSTILE, "expected": 1}],
            }
        ],
    }
    return [
        {"kind": "step", "status": "done", "step": f"step {HOSTILE}", "detail": {"action": "sql"}},
        {"kind": "step", "status": "failed", "step": "s", "detail": {"error": HOSTILE}},
        {"kind": "check", "status": "failed", "step": f"check {HOSTILE}", "detail": check},
        {"kind": "approval", "status": "approved", "step": None, "detail": {"operator": RED}},
        {"kind": "state", "status": "failed", "step": None, "detail": {"reason": TITLE}},
        {"kind": "note", "status": "", "step": None, "detail": {"message": HOSTILE}},
    ]


def _assert_no_control(text: str) -> None:
    data = "\n".join(
        re.sub(r"\x1b\[[0-9;]*m", "", line) for line in text.splitlines()
    )  # rich's colours gone, what is left came from the data
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", data), repr(text)
    assert "\\x1b[31mred" in data and "\\x1b]0;pwned\\x07" in data


@pytest.mark.parametrize("terminal", [True, False])
def test_every_line_of_a_run_writes_control_characters_escaped(terminal: bool) -> None:
    reporter, sink = _reporter(terminal)
    for event in _events():
        reporter.event("p", 1, event)
    reporter.say(f"  a line said {HOSTILE}\n  and its second line {TITLE}")
    _assert_no_control(sink.getvalue())
    assert "\\x1b[2J\\x0d" in sink.getvalue()  # a carriage return moves nothing back


def test_history_writes_control_characters_escaped() -> None:
    from migrator.views.history import render_history

    at = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    run = {
        "id": 1,
        "transition": f"go{RED}",
        "from_phase": "a",
        "to_phase": f"b{TITLE}",
        "status": "failed",
        "operator": HOSTILE,
        "host": "h",
        "pid": 1,
        "started_at": at,
        "finished_at": at,
        "events": [{**e, "at": at} for e in _events()],
    }
    reporter, sink = _reporter(True)
    render_history({"plan": f"p{RED}", "runs": [run]}, reporter)
    _assert_no_control(sink.getvalue())
