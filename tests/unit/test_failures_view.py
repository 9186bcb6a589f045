"""Failures read at a glance: a check's line with values as values cut to the console, its
differences as data a line each, and the last line of a run naming the plan's phase."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from rich.console import Console

from migrator.errors import ExitCode
from migrator.storable import json_data
from migrator.views.console import Reporter, ended_line
from migrator.views.differences import difference_lines, named_part

UID = "16103642-a0b1-4c2d-8e9f-0123456789ab"
PAIRED = {
    "key": [{"name": "session_id", "value": UID}],
    "columns": [{"name": "confidence", "actual": 0.724, "expected": 0.362}],
}


def _columns(*columns: tuple[str, Any, Any]) -> list[dict[str, Any]]:
    return [{"name": n, "actual": a, "expected": e} for n, a, e in columns]


def test_a_pair_reads_as_key_then_the_columns_that_differ_in_their_order() -> None:
    assert difference_lines([PAIRED]) == [f"session_id {UID}: confidence 0.724 vs 0.362"]
    key = [{"name": "t", "value": 1}, {"name": "id", "value": 2}]
    two = {"key": key, "columns": _columns(("v", "x", None), ("n", 1, 2), ("j", 3, 4))}
    assert difference_lines([two]) == ["t 1, id 2: v x vs NULL; n 1 vs 2; j 3 vs 4"]


def test_a_difference_of_an_older_event_as_mappings_still_reads() -> None:
    two = {"key": {"id": 2}, "columns": {"a": [1, 2], "b": ["x", None]}}
    assert difference_lines([two]) == ["id 2: a 1 vs 2; b x vs NULL"]
    alone = {"only_in": "equals_query", "key": {"id": 3}, "row": {"v": {"a": 1}}}
    assert difference_lines([alone]) == ['id 3: only in equals_query (v: {"a": 1})']


def test_a_row_on_one_side_reads_as_its_key_and_the_rest() -> None:
    row = [{"name": "v", "value": {"a": 1}}, {"name": "b", "value": None}]
    alone = {"only_in": "equals_query", "key": [{"name": "id", "value": 3}], "row": row}
    assert difference_lines([alone]) == ['id 3: only in equals_query (v: {"a": 1}, b: NULL)']
    assert difference_lines([{"only_in": "query", "key": [], "row": []}]) == [
        "only in the check's query"
    ]


def test_values_are_cut_before_the_line_so_the_key_stays_readable() -> None:
    assert difference_lines([PAIRED], 74) == difference_lines([PAIRED])  # it fits: whole
    [line] = difference_lines([PAIRED], 73)
    assert line == "session_id 16103642-a0b1-4c2d-8e9f…: confidence 0.724 vs 0.362"
    [tight] = difference_lines([PAIRED], 30)
    assert len(tight) == 30 and tight.endswith("…")


def test_anything_but_a_mapping_is_no_difference() -> None:
    assert difference_lines(["text", 3, None, PAIRED]) == difference_lines([PAIRED])


def test_of_an_actual_mapping_only_what_the_expectation_names_is_shown() -> None:
    body = {"flags": {"A": True, "B": False}, "version": "v1", "noise": "x" * 600}
    actual = {"status": 200, "json": body}
    expected = {"status": 200, "json": {"flags": {"A": True}}}
    assert named_part(actual, expected) == {"status": 200, "json": {"flags": {"A": True}}}
    assert named_part("2 rows", "the same 2 rows") == "2 rows"
    assert named_part({"a": 1}, "x") == {"a": 1}
    assert named_part({"found": "x"}, {"table": "t"}) == {"found": "x"}  # none named: all


def _reporter(width: int, terminal: bool = True) -> tuple[Reporter, io.StringIO]:
    sink = io.StringIO()
    reporter = Reporter(sink, sink)
    reporter.console = Console(
        file=sink, width=width, force_terminal=terminal, highlight=False, soft_wrap=True
    )
    return reporter, sink


def _plain(text: str) -> list[str]:
    return re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()


def _check(status: str, step: str = "unified and legacy agree", **detail: Any) -> dict[str, Any]:
    return {"kind": "check", "status": status, "step": step, "detail": detail}


@pytest.mark.parametrize("width", [80, 120])
def test_a_failed_check_fits_the_terminal_with_its_difference_under_it(width: int) -> None:
    reporter, sink = _reporter(width)
    event = _check(
        "failed",
        phase="post",
        actual="2760 rows",
        expected="the same 2760 rows",
        detail="2760 rows against 2760; 1 row only in the check's query; 1 row only in "
        "equals_query; and a long tail of words that a terminal has to wrap " * 2,
        differences=[PAIRED],
        seconds=0.03,
    )
    reporter.event("p", 1, json_data(event))
    lines = _plain(sink.getvalue())
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].startswith("  ✗ post-check unified and legacy agree: failed")
    # the values on the check's line when they fit, else on a line of their own under it
    values = "actual 2760 rows, expected the same 2760 rows"
    assert values in lines[0] if width >= 120 else lines[1] == f"      {values}", lines
    said = next(i for i, line in enumerate(lines) if "2760 rows against 2760" in line)
    assert lines[said].startswith("      2760 rows against 2760")  # on a line of its own
    assert all(line.startswith("      ") for line in lines[said:]), lines  # wrapped: indented
    assert lines[-1].startswith("      session_id 16103642-a0b1-4c2d-8e9f")
    assert lines[-1].endswith(": confidence 0.724 vs 0.362")
    assert "\x1b[31m" in sink.getvalue()  # red


@pytest.mark.parametrize("width", [80, 120])
def test_an_http_answer_shows_its_status_and_the_fields_expected_cut_to_the_line(
    width: int,
) -> None:
    reporter, sink = _reporter(width)
    body = {"flags": {"WRITE_UNIFIED": True}, "blob": "y" * 600}
    expected = {"status": 200, "json": {"flags": {"WRITE_UNIFIED": True}}}
    actual = {"status": 200, "json": body}
    reporter.event(
        "p", 1, _check("passed", "health", phase="pre", actual=actual, expected=expected)
    )
    lines = _plain(sink.getvalue())
    assert "blob" not in " ".join(lines) and "yyy" not in " ".join(lines)  # nobody expected it
    assert all(len(each) <= width for each in lines), lines
    # the value it has is the value expected: once, whole, under the check's line
    assert lines == [
        "  ✓ pre-check health: passed",
        '      as expected: {"status": 200, "json": {"flags": {"WRITE_UNIFIED": true}}}',
    ]


def test_values_that_differ_and_do_not_fit_are_cut_on_their_own_line() -> None:
    reporter, sink = _reporter(100)
    actual = {"status": 500, "json": {"error": "e" * 200}}
    expected = {"status": 200, "json": {"error": None}}
    reporter.event(
        "p", 1, _check("failed", "health", phase="post", actual=actual, expected=expected)
    )
    head, values = _plain(sink.getvalue())
    assert head == "  ✗ post-check health: failed"
    assert values.startswith('      actual {"status": 500, "json": {"error": "')
    assert "…, expected" in values  # the long value cut, the short one whole
    assert values.endswith(', expected {"status": 200, "json": {"error": null}}')
    assert len(values) <= 100


def test_values_are_values_never_python_reprs() -> None:
    reporter, sink = _reporter(120, terminal=False)
    event = _check(
        "failed",
        phase="pre",
        actual=Decimal("0.724"),
        expected=Decimal("0.362"),
        differences=[
            {
                "key": [{"name": "id", "value": UUID(UID)}],
                "columns": _columns(("c", Decimal("0.724"), None)),
            }
        ],
    )
    reporter.event("p", 1, json_data(event))
    text = sink.getvalue()
    assert "Decimal(" not in text and "UUID(" not in text and "None" not in text
    assert "(actual 0.724, expected 0.362)" in text
    assert f"      id {UID}: c 0.724 vs NULL\n" in text  # without a terminal: whole lines


def test_a_passed_check_shows_no_differences() -> None:
    reporter, sink = _reporter(80)
    reporter.event(
        "p", 1, _check("passed", phase="pre", actual=1, expected="1", differences=[PAIRED])
    )
    assert "confidence" not in sink.getvalue()


@pytest.mark.parametrize(
    ("code", "before", "after", "reason", "line"),
    [
        (
            ExitCode.OK,
            "dual_write",
            "unified_only",
            None,
            "plan p is now in phase unified_only (exit 0)",
        ),
        (
            ExitCode.OK,
            "unified_only",
            "unified_only",
            None,
            "plan p is in phase unified_only (exit 0)",
        ),
        (
            ExitCode.CHECK_FAILED,
            "dual_write",
            "dual_write",
            "a post-check failed",
            "plan p stays in phase dual_write: a post-check failed and what the run did was "
            "undone (exit 1)",
        ),
        (
            ExitCode.CHECK_FAILED,
            "legacy",
            "legacy",
            "a pre-check failed: nothing was applied",
            "plan p stays in phase legacy: a pre-check failed: nothing was applied (exit 1)",
        ),
        (
            ExitCode.CHECK_FAILED,
            "legacy",
            "dual_write",  # its first transition went through, the second was undone
            "a post-check failed",
            "plan p is now in phase dual_write: a post-check failed and what the run did was "
            "undone (exit 1)",
        ),
        (
            ExitCode.CHECK_FAILED,
            "a",
            "a",
            "step add a note failed: canceling statement due to lock timeout",
            "plan p stays in phase a: step add a note failed and what the run did was undone "
            "(exit 1)",
        ),
        (
            ExitCode.UNDO_FAILED,
            "a",
            "a",
            "step x failed",
            "plan p stays in phase a: undoing failed, the run needs a person; `migrator resume "
            "p.yaml` or `migrator rollback p.yaml` settles it (exit 3)",
        ),
        (
            ExitCode.SIGINT,
            "a",
            "a",
            None,
            "plan p stays in phase a: stopped by SIGINT, the run is interrupted; `migrator "
            "resume p.yaml` or `migrator rollback p.yaml` settles it (exit 130)",
        ),
    ],
)
def test_the_last_line_names_the_phase_and_the_exit_codes_meaning(
    code: ExitCode, before: str, after: str, reason: str | None, line: str
) -> None:
    text, style = ended_line("p", before, after, code, reason=reason, plan_file="p.yaml")
    assert text == line
    forged, _ = ended_line("p", "a", "a", ExitCode.UNDO_FAILED, plan_file="p\nplan p is ok")
    assert "\n" not in forged  # a file name cannot forge a line of its own
    assert style == (
        "green" if code == ExitCode.OK else "red" if code != ExitCode.SIGINT else "yellow"
    )


@pytest.mark.parametrize("width", [80, 120])
def test_history_fits_the_terminal_dates_with_their_zone_values_as_values(width: int) -> None:
    from datetime import UTC, datetime, timedelta

    from migrator.views.history import render_history

    start = datetime(2026, 12, 5, 23, 59, 58, tzinfo=UTC)
    check = {
        "phase": "post",
        "actual": {"status": 200, "json": {"ok": True, "blob": "z" * 900}},
        "expected": {"status": 200, "json": {"ok": True}},
        "detail": "a long explanation " * 12,
        "differences": [PAIRED],
        "seconds": 0.0394,
    }
    events = [
        {"at": start, "kind": "state", "status": "prechecking", "step": None, "detail": {}},
        {
            "at": start + timedelta(seconds=3),  # the next day: shown with its date
            "kind": "check",
            "status": "failed",
            "step": "the application answers and unified and legacy agree " * 2,
            "detail": json_data(check),
        },
    ]
    run = {
        "id": 7,
        "transition": "cutover",
        "from_phase": "dual_write",
        "to_phase": "unified_only",
        "status": "undone",
        "operator": "ann",
        "host": "ops-1",
        "pid": 42,
        "started_at": start,
        "finished_at": start + timedelta(seconds=4, milliseconds=500),
        "events": events,
    }
    reporter, sink = _reporter(width)
    render_history({"plan": "p", "runs": [run]}, reporter)
    lines = _plain(sink.getvalue())
    assert all(len(line) <= width for line in lines), lines
    text = "\n".join(lines)
    assert "started 2026-12-05 23:59:58+00:00, ended 2026-12-06 00:00:02+00:00, took 4.5 s" in text
    assert "23:59:58.000" in text and "2026-12-06 00:00:01+00:00" in text
    assert "session_id 16103642" in text and "confidence 0.724 vs 0.362" in text
    assert "zzz" not in text and "(39 ms)" in text
    assert not [line for line in lines if line != line.rstrip()], "a table pads its lines"


def test_a_line_said_on_a_terminal_wraps_at_its_own_indent() -> None:
    reporter, sink = _reporter(40)
    reporter.say(
        "  manual step: " + "deploy the function " * 5 + "\n\nplan p [bold]is[/] in phase a"
    )
    lines = _plain(sink.getvalue())
    assert all(len(line) <= 40 for line in lines), lines
    assert lines[0].startswith("  manual step: deploy")
    assert all(line.startswith("  ") for line in lines[1:4]), lines  # its indent kept
    assert "" in lines and lines[-1] == "plan p [bold]is[/] in phase a"  # never markup


def test_a_line_said_without_a_terminal_stays_whole() -> None:
    reporter, sink = _reporter(40, terminal=False)
    reporter.say("  manual step: " + "deploy the function " * 5)
    assert sink.getvalue() == "  manual step: " + "deploy the function " * 5 + "\n"
