"""The 3 a.m. views in an 80-column terminal: `status`, `history`, `report`, `docs` and
`audit rls`, each run as a real process on a pseudo-terminal 80 columns wide
(tests/terminal.py), draw no line wider than the terminal (a single word too long for any
line, a path or a URL, is the one exception: tests/demo/test_widths.py says why), and
crop no long name with `…` (`audit rls` at 50 columns too).

The plan has what makes lines long: long step and check names, a long SQL statement, a
check that fails with values on both sides, and a run that was undone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from tests.plans import items
from tests.terminal import in_terminal

COLUMNS = 80
# Names longer than a table's column: rich folds them onto more lines, or crops them with
# `…` when told to (or when a table cannot fit): a cropped name is one nobody can copy.
NO_POLICY = (  # the detail of the finding `audit rls` reports: every word of it is shown
    "row level security is on and there is no policy: every role but the owner and "
    "BYPASSRLS roles reads no rows and has every write refused"
)
NAMES = (
    "scoring-results-of-every-assessment-session-unified",
    "enable_dual_write_for_every_assessment_session",
    "public.assessment_answers_of_every_session_ever_started",
)
LONG = "the scoring results of every assessment session ever completed by a user"

PLAN = (
    "plan: scoring-results-of-every-assessment-session-unified\n"
    "phases: [legacy, dual_write]\n"
    "transitions:\n"
    "  - name: enable_dual_write_for_every_assessment_session\n"
    "    from: legacy\n"
    "    to: dual_write\n"
    "    steps:\n"
    + items(
        [
            f"name: create {LONG}\n"
            "sql: create table scoring_results (session_id int primary key, confidence "
            "numeric not null, payload jsonb not null default '{}'::jsonb, created_at "
            "timestamptz not null default now())\n"
            "rollback: {sql: drop table scoring_results}",
            f"name: write {LONG}\n"
            "sql: insert into scoring_results (session_id, confidence) "
            "select g, 0.724 from generate_series(1, 20) g",
        ],
        6,
    )
    + "    post_checks:\n"
    + items(
        [
            f"name: every one of {LONG} has the same confidence as its legacy row\n"
            "query: select confidence from scoring_results where session_id = 7\n"
            "expect: 0.362"
        ],
        6,
    )
)


@pytest.fixture
def undone_run(migrator: Any, write_plan: Any, sql: Any) -> tuple[Path, int]:
    sql(  # a hole for `audit rls` to find
        "create table assessment_answers_of_every_session_ever_started (id int); "
        "alter table assessment_answers_of_every_session_ever_started enable row level security"
    )
    plan = write_plan(PLAN, "scoring.yaml")
    assert migrator("apply", plan, "--to", "dual_write").code == 1  # the post-check fails
    [(run,)] = sql("select max(id) from migrator.runs")
    return plan, int(run)


@pytest.mark.parametrize(
    ("view", "columns"),
    [(v, COLUMNS) for v in ("status", "history", "report", "docs", "audit rls")]
    + [("audit rls", 50)],
)
def test_the_view_fits_the_terminal(
    view: str, columns: int, undone_run: tuple[Path, int], database: str, tmp_path: Path
) -> None:
    plan, run = undone_run
    argv = {
        "status": ["status", plan],
        "history": ["history", plan],
        "report": ["report", str(run)],
        "docs": ["docs", plan],
        "audit rls": ["audit", "rls"],
    }[view]
    env = {**os.environ, "MIGRATOR_DSN": database}  # no password on the command line
    env.pop("DATABASE_URL", None)
    drawn = in_terminal(
        [sys.executable, "-m", "migrator", *map(str, argv)], columns=columns, env=env, cwd=tmp_path
    )
    shown = "\n".join(drawn.screen.lines)
    assert drawn.code in (0, 1), shown  # audit rls: 1 when it finds an error
    assert len(shown.split()) > 5, shown  # it drew something
    wide = drawn.too_wide()
    assert not wide, f"`migrator {view}`: {len(wide)} line(s) wider than {columns}:\n" + (
        "\n".join(f"[{cell_len(line)}] {line}" for line in wide)
    )
    assert not cropped(shown), shown
    if view == "audit rls":  # rich crops a table wider than the terminal: no `…`, no trace
        words = shown.split()
        missing = [w for w in NO_POLICY.split() if w not in words]
        assert not missing, f"words of the finding cut off: {missing}\n{shown}"


def cropped(screen: str) -> list[str]:
    """The words on the screen that are one of `NAMES` cropped with `…`."""
    words = (w.strip("()[],:") for w in screen.split())
    return [
        w
        for w in words
        if len(w) > 3 and w.endswith("…") and any(n.startswith(w[:-1]) for n in NAMES)
    ]


def test_a_name_cropped_by_rich_is_seen() -> None:
    assert cropped("1  enable_dual_…  legacy →") == ["enable_dual_…"]
    assert cropped("public.assessment_answers… (a table)") == ["public.assessment_answers…"]
    assert cropped("enable_dual_write_for_every_assessment_session  a … b  other_…") == []
