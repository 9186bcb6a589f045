"""`migrator demo` end to end, as a process, on the test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg


def test_the_demo_tells_the_whole_story(admin_dsn: str, tmp_path: Path) -> None:
    # Run from an empty folder: the plans come from the installed package.
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    proc = subprocess.run(
        [sys.executable, "-m", "migrator", "demo", "--sessions", "300", "--dsn", admin_dsn],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "Traceback" not in out + proc.stderr
    # The symptom and its cause, shown before the fix.
    assert 'violates row-level security policy for table "profiles"' in out
    assert "rls_without_policy   public.profiles" in out
    assert "run undone: a post-check failed" in out  # the broken cutover
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname="migrator_demo")
    with psycopg.connect(dsn) as conn:
        phases = dict(conn.execute("select plan, phase from migrator.plan_state").fetchall())
        runs = conn.execute(
            "select transition, status from migrator.runs where plan = "
            "'scoring-results-unification' order by id"
        ).fetchall()
        lacking = conn.execute(
            "select count(*) from scoring_results r where not exists "
            "(select 1 from profiles p where p.session_id = r.session_id)"
        ).fetchone()
        restored = conn.execute(
            "select count(*) from profiles where source = 'unified-restore'"
        ).fetchone()
        no_profile = conn.execute(
            "select count(*) from assessment_sessions s where status = 'completed' "
            "and completed_at < now() - interval '1 minute' "
            "and not exists (select 1 from profiles p where p.session_id = s.id)"
        ).fetchone()
    assert phases == {
        "ir-07-profiles-rls-hotfix": "applied",
        "ir-08-backfill-profiles": "applied",
        "scoring-results-unification": "dual_write",
    }
    assert [t for t, _ in runs] == ["enable_dual_write", "cutover", "cutover", "back_to_dual_write"]
    assert [s for _, s in runs] == ["succeeded", "undone", "succeeded", "succeeded"]
    assert lacking == (0,)  # nothing lost on the way back
    assert restored is not None and restored[0] > 0  # sessions scored unified-only came back
    assert no_profile == (0,)
    # The app was stopped with the demo (no --keep).
    assert "keeps running" not in out
