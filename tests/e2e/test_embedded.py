"""With no DSN anywhere, migrator starts an embedded PostgreSQL, says so once, and reuses it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PLAN = "plan: local\nkind: hotfix\nsteps: [{flag: {name: LOCAL, value: true}}]\n"


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short path: PostgreSQL's socket lives in the data folder, and socket paths are short.
    path = Path(tempfile.mkdtemp(prefix="mg-"))
    yield path
    pgdata = path / ".migrator" / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        import pgserver

        pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()


def migrator(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_embedded_database_is_started_once_and_reused(workdir: Path) -> None:
    (workdir / "local.yaml").write_text(PLAN)
    first = migrator(workdir, "apply", "local.yaml")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "started the embedded PostgreSQL in .migrator/pgdata" in first.stdout
    assert (workdir / ".migrator" / "pgdata" / "PG_VERSION").exists()
    second = migrator(workdir, "status", "local.yaml", "--output", "json")
    assert second.returncode == 0, second.stderr
    assert "started the embedded" not in second.stdout + second.stderr
    assert '"phase": "applied"' in second.stdout  # the same database, with its state
