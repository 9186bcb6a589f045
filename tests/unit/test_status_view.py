"""The text of `migrator status` (views/status.py) from documents made by hand: names
from a plan or the database are data (markup and control characters shown as they are,
never read), the tables leave no spaces at the ends of lines, a pause is always said."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from migrator.views.status import all_view, status_view

HOSTILE = "go [/red] <script>\x1b]0;pwned\x07"
STARTED = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def _run(**changes: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "id": 7,
        "plan": "fill",
        "transition": HOSTILE,
        "from_phase": "empty",
        "to_phase": HOSTILE,
        "status": "applying",
        "operator": "[/x] op",
        "host": "h",
        "pid": 1,
        "started_at": STARTED,
        "finished_at": None,
        "error": None,
        "state": "running",
        "lock_lost": False,
        "current_step": HOSTILE,
        "stopped_during": None,
        "last_step_done": None,
        "elapsed_seconds": 5.0,
        "backfill": None,
        "lock_wait": None,
        "settle": [],
    }
    run.update(changes)
    return run


def _doc(open_run: dict[str, Any] | None, paused: bool = False) -> dict[str, Any]:
    finished = {**_run(), "status": "[bold]done", "finished_at": STARTED}
    return {
        "plan": "fill",
        "file": "fill.yaml",
        "kind": "phased",
        "phase": HOSTILE,
        "phases": ["empty", HOSTILE],
        "lock": {"held": open_run is not None, "holder": None},
        "open_run": open_run,
        "paused": paused,
        "runs": [finished],
    }


def _text(renderable: Any, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(renderable)
    return out.getvalue()


def test_markup_and_control_characters_in_names_are_shown_as_they_are() -> None:
    shown = _text(status_view(_doc(_run())), width=200)
    assert "go [/red] <script>\\x1b]0;pwned\\x07" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    assert "[/x] op" in shown and "[bold]done" in shown
    every = {
        "plans": [
            {
                "plan": HOSTILE,
                "phase": HOSTILE,
                "lock": {"held": True},
                "open_run": {**_run(), "file": "f.yaml"},
                "last_run": None,
            }
        ]
    }
    shown = _text(all_view(every), width=200)
    assert "go [/red] <script>\\x1b" in shown and "\x1b" not in shown


def test_the_tables_leave_no_spaces_at_the_ends_of_lines() -> None:
    shown = _text(status_view(_doc(None)))
    assert "last runs:" in shown
    assert [line for line in shown.splitlines() if line != line.rstrip()] == []


def test_a_pause_is_said_with_an_interrupted_run_and_how_to_clear_it() -> None:
    run = _run(state="interrupted", current_step=None, settle=["migrator resume fill.yaml"])
    shown = " ".join(_text(status_view(_doc(run, paused=True))).split())
    assert "backfill: paused (no run is live): a resumed run starts held;" in shown
    assert "`migrator continue fill.yaml` releases it" in shown


def test_a_run_whose_lock_a_reconnect_lost_says_it_still_works() -> None:
    shown = " ".join(_text(status_view(_doc(_run(lock_lost=True)))).split())
    assert "its lock was lost in a reconnect, its process still writes progress" in shown
    assert "settle it" not in shown


def test_a_run_in_its_pre_checks_says_so() -> None:
    shown = _text(status_view(_doc(_run(status="prechecking", current_step=None))))
    assert "step: none yet, it is in its pre-checks" in shown


def test_percent_shows_as_recorded() -> None:
    backfill = {
        "step": "copy",
        "rows_done": 9_999,
        "rows_total": 10_000,
        "estimated": False,
        "percent": 99.9,
        "rows_written": None,
        "rows_per_second": 10.0,
        "eta_seconds": None,
        "streams": 1,
        "last_batch_age_seconds": 0.5,
        "paused": False,
        "throttled": None,
    }
    shown = _text(status_view(_doc(_run(backfill=backfill))))
    assert "(99.9%)" in shown and "100.0%" not in shown
