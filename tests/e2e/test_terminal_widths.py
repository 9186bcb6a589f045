"""The 3 a.m. views in an 80-column terminal: `status`, `history`, `report`, `docs` and
`audit rls`, each run as a real process on a pseudo-terminal 80 columns wide
(tests/terminal.py), draw no line wider than the terminal (a single word too long for any
line, a path or a URL, is the one exception: tests/demo/test_widths.py says why).

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


@pytest.mark.parametrize("view", ["status", "history", "report", "docs", "audit rls"])
def test_the_view_fits_an_80_column_terminal(
    view: str, undone_run: tuple[Path, int], database: str, tmp_path: Path
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
        [sys.executable, "-m", "migrator", *map(str, argv)], columns=COLUMNS, env=env, cwd=tmp_path
    )
    shown = "\n".join(drawn.screen.lines)
    assert drawn.code in (0, 1), shown  # audit rls: 1 when it finds an error
    assert len(shown.split()) > 5, shown  # it drew something
    wide = drawn.too_wide()
    assert not wide, f"`migrator {view}`: {len(wide)} line(s) wider than {COLUMNS}:\n" + (
        "\n".join(f"[{cell_len(line)}] {line}" for line in wide)
    )
