"""Scenarios of features/demo: `migrator demo` as a process, on the test server."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from typing import Any

import httpx
import psycopg
import pytest
from pytest_bdd import parsers, scenarios, then, when

from tests.processes import wait_for

scenarios("demo")

DEMO_DATABASE = "migrator_demo"


def _demo_rows(world: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    dsn = psycopg.conninfo.make_conninfo(world["admin_dsn"], dbname=DEMO_DATABASE)
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


@when(parsers.parse("I run the demo with {sessions:d} sessions and --keep from an empty folder"))
def _(sessions: int, world: dict[str, Any], admin_dsn: str, request: pytest.FixtureRequest) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    argv = ["demo", "--sessions", str(sessions), "--keep", "--dsn", admin_dsn]
    proc = subprocess.run(
        [sys.executable, "-m", "migrator", *argv],
        cwd=world["dir"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    world["admin_dsn"] = admin_dsn
    world["code"], world["output"] = proc.returncode, proc.stdout + proc.stderr
    kept = re.search(r"keeps running on (\S+) \(pid (\d+);", world["output"])
    if kept:  # stopped after the scenario, whatever it found
        pid = int(kept[2])
        request.addfinalizer(lambda: _end(pid))
        world["kept_app"] = (kept[1], pid)


def _end(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


@then("the scoring app the demo kept still answers, and its users keep scoring")
def _(world: dict[str, Any]) -> None:
    assert "kept_app" in world, world["output"]
    url, pid = world["kept_app"]
    os.kill(pid, 0)  # alive: raises ProcessLookupError otherwise
    answer = httpx.get(f"{url}/health", timeout=10)
    assert answer.status_code == 200 and answer.json()["ok"] is True
    count = "select count(*) from assessment_sessions"
    before = _demo_rows(world, count)[0][0]
    wait_for(lambda: _demo_rows(world, count)[0][0] != before, 30)  # a new session


@then(parsers.parse('in the demo database the plans are "{phases}"'))
def _(phases: str, world: dict[str, Any]) -> None:
    rows = _demo_rows(world, "select plan || ' ' || phase from migrator.plan_state order by 1")
    assert ", ".join(r[0] for r in rows) == phases


@then(parsers.parse('in the demo database the runs of "{plan}" are "{runs}"'))
def _(plan: str, runs: str, world: dict[str, Any]) -> None:
    rows = _demo_rows(
        world,
        f"select transition || ' ' || status from migrator.runs where plan = '{plan}' order by id",
    )
    assert ", ".join(r[0] for r in rows) == runs


@then("in the demo database every session scored while unified-only has complete legacy rows")
def _(world: dict[str, Any]) -> None:
    [(restored, incomplete)] = _demo_rows(
        world,
        """
        select count(*) filter (where p.source = 'unified-restore'),
               count(*) filter (where p.session_id is null
                 or (select count(*) from scoring_results_types t
                     where t.session_id = r.session_id) <> 16
                 or (select count(*) from scoring_results_functions f
                     where f.session_id = r.session_id) <> 8
                 or not exists (select 1 from scoring_results_state s
                                where s.session_id = r.session_id))
        from scoring_results r left join profiles p on p.session_id = r.session_id
        """,
    )
    assert restored > 0  # users did score sessions while the plan was unified-only
    assert incomplete == 0


@then("in the demo database every completed session has a profile")
def _(world: dict[str, Any]) -> None:
    assert _demo_rows(
        world,
        "select count(*) from assessment_sessions s where status = 'completed' "
        "and completed_at < now() - interval '1 minute' "
        "and not exists (select 1 from profiles p where p.session_id = s.id)",
    ) == [(0,)]
