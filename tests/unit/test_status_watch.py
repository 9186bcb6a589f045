"""`status --watch` (views/watch.py): when it ends, what it says, and a database that
cannot be read for a moment (a real connection refused: a port nothing listens on)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from rich.console import Console
from rich.text import Text

from migrator.errors import ConnectionLost, ExitCode
from migrator.views.watch import watch

AT_WORK = {"lock": {"held": True}, "open_run": {"id": 7, "state": "running"}, "n": 0}
ENDED = {"lock": {"held": False}, "open_run": None, "n": 9}


def _unreachable() -> dict[str, Any]:
    psycopg.connect("host=127.0.0.1 port=1 connect_timeout=2 dbname=x user=x")
    raise AssertionError("nothing listens on port 1")


def _readings(*steps: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    pending: Iterator[Callable[[], dict[str, Any]]] = iter(steps)
    return lambda: next(pending)()


def _watch(build: Callable[[], dict[str, Any]], as_json: bool = False) -> tuple[int, str, str]:
    out, shown = io.StringIO(), io.StringIO()
    console = Console(file=shown, width=80, force_terminal=False)
    code = watch(
        build,
        lambda d: Text(f"reading {d['n']}"),
        lambda ids: [f"run {i} ended succeeded" for i in ids],
        console=console,
        out=out,
        as_json=as_json,
        interval=0.01,
    )
    return code, out.getvalue(), shown.getvalue()


def test_it_ends_when_no_run_is_at_work_naming_how_each_ended() -> None:
    step = {**AT_WORK, "n": 1}
    code, _, shown = _watch(_readings(lambda: AT_WORK, lambda: step, lambda: ENDED))
    assert code == ExitCode.OK
    assert shown.index("reading 0") < shown.index("reading 1") < shown.index("reading 9")
    assert shown.rstrip().endswith("run 7 ended succeeded")


def test_with_no_run_at_work_it_shows_the_status_once() -> None:
    code, _, shown = _watch(_readings(lambda: ENDED))
    assert code == ExitCode.OK
    assert "reading 9" in shown and "no run is at work: nothing to watch" in shown


def test_json_is_one_document_a_line_the_last_naming_how_runs_ended() -> None:
    code, out, _ = _watch(_readings(lambda: AT_WORK, lambda: AT_WORK, lambda: ENDED), True)
    assert code == ExitCode.OK
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["n"] for line in lines] == [0, 0, 9]
    assert "ended" not in lines[0] and lines[-1]["ended"] == ["run 7 ended succeeded"]


def test_a_database_that_comes_back_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATOR_RECONNECT_TIMEOUT", "60")
    code, _, shown = _watch(_readings(lambda: AT_WORK, _unreachable, lambda: ENDED))
    assert code == ExitCode.OK
    assert "the database cannot be read now (" in shown and "; reading again" in shown
    assert "run 7 ended succeeded" in shown


def test_a_database_gone_longer_than_the_reconnect_window_ends_it_with_exit_5(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIGRATOR_RECONNECT_TIMEOUT", "0")
    with pytest.raises(ConnectionLost) as lost:
        _watch(_readings(lambda: AT_WORK, _unreachable, _unreachable))
    assert lost.value.exit_code == ExitCode.UNREACHABLE
    assert "lost the database while watching" in lost.value.message


def test_a_database_that_cannot_be_read_at_first_is_not_hidden() -> None:
    with pytest.raises(psycopg.OperationalError):
        _watch(_readings(_unreachable))


READ_AT = datetime(2026, 12, 5, 3, 4, 5, tzinfo=UTC)


def test_a_reading_repeated_while_the_database_is_gone_is_marked_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIGRATOR_RECONNECT_TIMEOUT", "60")
    first = {**AT_WORK, "read_at": READ_AT}
    code, out, _ = _watch(_readings(lambda: first, _unreachable, lambda: ENDED), True)
    assert code == ExitCode.OK
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(line["stale"], line["as_of"]) for line in lines] == [
        (False, None),
        (True, "2026-12-05T03:04:05+00:00"),
        (False, None),
    ]
    code, _, shown = _watch(_readings(lambda: first, _unreachable, lambda: ENDED))
    assert "as of 03:04:05: the database cannot be read" in shown


def test_without_a_terminal_readings_are_parted_by_their_databases_time() -> None:
    first = {**AT_WORK, "read_at": READ_AT}
    _, _, shown = _watch(_readings(lambda: first, lambda: ENDED | {"read_at": READ_AT}))
    assert "2026-12-05 03:04:05 UTC" in shown
    assert [line for line in shown.splitlines() if line != line.rstrip()] == []


def test_on_a_terminal_long_lines_wrap_and_are_never_cropped() -> None:
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=True, soft_wrap=True, color_system=None)
    long = "step " + "x" * 30 + " 12,345 of 67,890 rows (18.1%)"
    code = watch(
        _readings(lambda: AT_WORK, lambda: ENDED),
        lambda d: Text(long),
        lambda ids: [],
        console=console,
        out=io.StringIO(),
        as_json=False,
        interval=0.01,
    )
    assert code == ExitCode.OK
    assert "12,345 of 67,890 rows (18.1%)" in out.getvalue()
    assert console.soft_wrap  # as it was
