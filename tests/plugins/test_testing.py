"""`migrator.testing`, the fixtures a plugin author enables with `pytest_plugins`: a real
PostgreSQL for the session and a fresh database per test, in a test session of their own
(this project's conftest and its fixtures nowhere in sight)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFTEST = 'pytest_plugins = ["migrator.testing"]\n'

TESTS = """\
from pathlib import Path

import psycopg

from migrator.cli import main
from migrator.testing import Postgres

PLAN = "plan: t\\nkind: hotfix\\nsteps: [{sql: create table made (id int)}]\\n"


def made(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*) from pg_tables where tablename = 'made'").fetchone()[0]


def test_a_plan_applies_to_the_fresh_database(migrator_database: str, tmp_path: Path) -> None:
    plan = tmp_path / "t.yaml"
    plan.write_text(PLAN)
    assert made(migrator_database) == 0
    assert main(["apply", str(plan), "--dsn", migrator_database]) == 0
    assert made(migrator_database) == 1


def test_the_next_test_has_a_database_of_its_own_on_the_same_server(
    migrator_database: str, migrator_postgres: Postgres
) -> None:
    assert made(migrator_database) == 0
    with psycopg.connect(migrator_postgres.dsn) as conn:
        names = [r[0] for r in conn.execute("select datname from pg_database").fetchall()]
    assert migrator_database.split("?")[0].rsplit("/", 1)[1] in names
    assert migrator_postgres.log.exists()
"""


def test_a_plugin_authors_tests_get_a_server_and_a_fresh_database_each(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_notify.py").write_text(TESTS)

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
