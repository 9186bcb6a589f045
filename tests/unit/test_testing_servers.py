"""MIGRATOR_TEST_PG: which PostgreSQL the tests run on (migrator.testing_servers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from migrator import testing_servers
from migrator.db import embedded

ROOT = Path(__file__).resolve().parents[2]


def programs_folder(path: Path) -> Path:
    """A folder holding what a test server needs (never run here)."""
    path.mkdir(parents=True)
    for name in testing_servers.PROGRAMS:
        (path / name).write_text("#!/bin/sh\n")
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(testing_servers.HOME_ENV, str(tmp_path / "pg"))
    return tmp_path / "pg"


def test_unset_empty_or_the_embedded_major_is_the_embedded_server(home: Path) -> None:
    programs_folder(home / str(embedded.major()) / "bin")  # never looked at
    assert testing_servers.chosen_programs("") is None
    assert testing_servers.chosen_programs(" ") is None
    assert testing_servers.chosen_programs(str(embedded.major())) is None


def test_a_major_is_found_in_migrator_pg_home(home: Path) -> None:
    found = programs_folder(home / "15" / "bin")
    assert testing_servers.chosen_programs("15") == found


def test_a_missing_major_says_where_it_looked_and_how_to_get_it(home: Path) -> None:
    programs_folder(home / "15" / "bin")
    with pytest.raises(testing_servers.NotAvailable) as raised:
        testing_servers.chosen_programs("11")
    message = str(raised.value)
    assert "MIGRATOR_TEST_PG=11" in message
    assert str(home / "11" / "bin") in message
    assert "/usr/lib/postgresql/11/bin" in message
    assert ".ci/postgres 11" in message
    assert "apt-get install postgresql-11" in message


def test_a_folder_of_programs_or_the_folder_holding_bin(tmp_path: Path) -> None:
    bin_folder = programs_folder(tmp_path / "pg17" / "bin")
    assert testing_servers.chosen_programs(str(bin_folder)) == bin_folder.resolve()
    assert testing_servers.chosen_programs(str(tmp_path / "pg17")) == bin_folder.resolve()


def test_a_folder_without_the_programs_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "postgres").write_text("")  # no initdb, no pg_ctl
    with pytest.raises(testing_servers.NotAvailable, match="neither a major version"):
        testing_servers.chosen_programs(str(folder))


def test_pg_home_defaults_to_the_users_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(testing_servers.HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert testing_servers.pg_home() == Path("/somewhere/cache/migrator/postgresql")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert testing_servers.pg_home() == Path.home() / ".cache/migrator/postgresql"


def test_a_session_on_a_missing_major_stops_at_once(tmp_path: Path) -> None:
    """Before collecting anything: exit 4 (usage error) and the message, not a failure
    per test."""
    env = {
        **os.environ,
        testing_servers.ENV: "11",
        testing_servers.HOME_ENV: str(tmp_path / "empty"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "PostgreSQL 11's programs are not here" in done.stderr
    assert "passed" not in done.stdout


def test_the_header_names_the_version_the_session_runs_on(tmp_path: Path) -> None:
    fake = programs_folder(tmp_path / "pg" / "15" / "bin")
    (fake / "postgres").write_text('#!/bin/sh\necho "postgres (PostgreSQL) 15.99"\n')
    (fake / "postgres").chmod(0o755)
    env = {**os.environ, testing_servers.ENV: "15", testing_servers.HOME_ENV: str(tmp_path / "pg")}
    done = subprocess.run(  # collecting only: no server is started
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", __file__],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"migrator tests on PostgreSQL 15.99 ({fake}, MIGRATOR_TEST_PG)" in done.stdout
