"""`migrator server status | start | stop` as real processes, in empty folders: the
embedded PostgreSQL as a user meets it, the README's psql command run as written, and a
data folder of another major (an 18 folder whose PG_VERSION says 16 stands in for an
earlier migrator's PostgreSQL 16 folder) reported, refused and moved aside."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from migrator.db import embedded

README = Path(__file__).resolve().parents[2] / "README.md"
NOT_INHERITED = ("MIGRATOR_DSN", "DATABASE_URL")


@pytest.fixture
def folder() -> Iterator[Path]:
    """An empty folder with a short path (the server's socket lives in its data folder);
    afterwards no server is left running in it."""
    path = Path(tempfile.mkdtemp(prefix="mg-srv-")).resolve()
    yield path
    for pgdata in (path / ".migrator").glob("pgdata*"):
        embedded.stop(pgdata)
    shutil.rmtree(path, ignore_errors=True)


def migrator(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return subprocess.run(
        [sys.executable, "-m", "migrator", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def document(folder: Path, *args: str) -> dict[str, object]:
    done = migrator(folder, *args, "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert isinstance(found, dict)
    return found


def alive(pid: object) -> bool:
    assert isinstance(pid, int)
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_status_of_a_folder_with_no_server_starts_nothing(folder: Path) -> None:
    done = migrator(folder, "server", "status")
    assert done.returncode == 0, done.stderr
    assert "data folder  .migrator/pgdata (none yet" in done.stdout
    assert re.search(r"^running +no$", done.stdout, re.MULTILINE), done.stdout
    assert f"version      PostgreSQL {embedded.version()}" in done.stdout
    found = document(folder, "server", "status")
    assert found == {
        "dsn": None,
        "version": embedded.version(),
        "data_folder": str(folder / ".migrator" / "pgdata"),
        "data_major": None,
        "running": False,
        "pid": None,
        "programs": str(embedded.programs()),
        "problem": None,
    }
    assert not (folder / ".migrator").exists()  # status only looks
    # No DSN to give: exit 5 and nothing on stdout (psql "$(...)" gets no stray text).
    dsn = migrator(folder, "server", "status", "--output", "dsn")
    assert dsn.returncode == 5
    assert dsn.stdout == ""
    assert "is not running: `migrator server start` starts it" in dsn.stderr


def test_start_twice_and_stop_twice(folder: Path) -> None:
    first = migrator(folder, "server", "start")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "started the embedded PostgreSQL in .migrator/pgdata (version " in first.stdout
    assert f"postgresql://postgres@/postgres?host={folder}/.migrator/pgdata" in first.stdout
    running = document(folder, "server", "status")
    assert running["running"] is True
    assert running["data_major"] == embedded.major()
    assert alive(running["pid"])

    again = document(folder, "server", "start")
    assert again["started"] is False
    assert again["pid"] == running["pid"]  # the same server, reused
    assert "already runs in .migrator/pgdata" in migrator(folder, "server", "start").stdout

    stopped = migrator(folder, "server", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the embedded PostgreSQL (pid {running['pid']})" in stopped.stdout
    assert not alive(running["pid"])
    assert document(folder, "server", "status")["running"] is False

    twice = migrator(folder, "server", "stop")
    assert twice.returncode == 0, twice.stderr
    assert "no PostgreSQL runs in .migrator/pgdata: nothing to stop" in twice.stdout
    assert document(folder, "server", "stop")["stopped"] is False


def _readme_psql_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("psql ") and "migrator server" in line]


def test_the_readme_psql_commands_reach_the_embedded_server(folder: Path) -> None:
    commands = _readme_psql_commands()
    assert len(commands) >= 2, commands  # start-and-connect, and the JSON route
    shims = folder / "bin"  # `migrator` is this checkout's; psql the embedded one
    shims.mkdir()
    shim = shims / "migrator"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m migrator "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["PATH"] = os.pathsep.join([str(shims), str(embedded.programs()), env["PATH"]])
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=env,
            input="select 'reached ' || current_setting('server_version');\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert f"reached {embedded.version()}" in done.stdout, (command, done.stdout)


def test_a_data_folder_of_another_major_is_reported_refused_stopped_and_moved_aside(
    folder: Path,
) -> None:
    pgdata = folder / ".migrator" / "pgdata"
    assert migrator(folder, "server", "start").returncode == 0
    (pgdata / "PG_VERSION").write_text("16\n")  # as an earlier migrator's folder says
    pid = document(folder, "server", "status")["pid"]

    # status reports it, the old server still running there included, and exits 0.
    shown = migrator(folder, "server", "status")
    assert shown.returncode == 0, shown.stderr
    assert "(made by PostgreSQL 16)" in shown.stdout
    assert f"yes, pid {pid}: a PostgreSQL 16 server, not the embedded one" in shown.stdout
    found = document(folder, "server", "status")
    assert found["running"] is True and found["data_major"] == 16
    problem = found["problem"]
    assert isinstance(problem, str)
    assert "holds the data of a PostgreSQL 16 server" in problem
    assert "still running there: `migrator server stop`" in problem
    assert migrator(folder, "server", "status", "--output", "dsn").returncode == 0

    # start, and any command without a DSN, refuse it: exit 2, the folder untouched.
    before = sorted(p.name for p in pgdata.iterdir())
    for argv in (("server", "start"), ("server", "start", "--output", "dsn"), ("audit", "rls")):
        refused = migrator(folder, *argv)
        assert refused.returncode == 2, (argv, refused.stdout, refused.stderr)
        assert refused.stdout == "", argv
        assert refused.stderr.startswith(
            f"error: .migrator/pgdata holds the data of a PostgreSQL 16 server, made by an "
            f"earlier migrator; the embedded PostgreSQL is now {embedded.version()} and "
            "cannot open it (a server of that version is still running there"
        ), refused.stderr
        assert "Traceback" not in refused.stderr
    assert sorted(p.name for p in pgdata.iterdir()) == before
    assert (pgdata / "PG_VERSION").read_text() == "16\n"

    # stop stops the server of the other major.
    stopped = migrator(folder, "server", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped the PostgreSQL 16 server (pid {pid}) in .migrator/pgdata" in stopped.stdout
    assert not alive(pid)
    after = document(folder, "server", "status")
    assert after["running"] is False and after["problem"] is not None
    refused = migrator(folder, "server", "start")
    assert refused.returncode == 2
    assert "still running" not in refused.stderr
    # ... word for word the message the README shows.
    [quoted] = re.findall(r"^error: \.migrator/pgdata holds .*$", README.read_text(), re.M)
    assert refused.stderr.strip() == quoted.replace("18.6", embedded.version())

    # Moved aside as the message says, the next command makes a new one.
    move = re.search(r"move it aside \(`(mv [^`]+)`\)", refused.stderr)
    assert move, refused.stderr
    assert move[1] == "mv .migrator/pgdata .migrator/pgdata-16"
    subprocess.run(move[1].split(), cwd=folder, check=True, timeout=30)
    fresh = migrator(folder, "server", "start")
    assert fresh.returncode == 0, fresh.stderr
    assert (pgdata / "PG_VERSION").read_text().strip() == str(embedded.major())
    assert (folder / ".migrator" / "pgdata-16" / "PG_VERSION").read_text() == "16\n"


def test_a_file_where_the_data_folder_goes_is_bad_usage(folder: Path) -> None:
    (folder / ".migrator").mkdir()
    (folder / ".migrator" / "pgdata").write_text("not a folder")
    done = migrator(folder, "server", "start")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: .migrator/pgdata is not a folder" in done.stderr
    status = migrator(folder, "server", "status")
    assert status.returncode == 0, status.stderr
    assert "running      no" in status.stdout


def test_server_help_shows_how_to_reach_it_with_psql(folder: Path) -> None:
    done = migrator(folder, "server", "--help")
    assert done.returncode == 0
    assert 'psql "$(migrator server start --output dsn)"' in done.stdout
    for command in ("status", "start", "stop"):
        assert re.search(rf"^\s+{command}\s", done.stdout, re.MULTILINE), done.stdout
    status = migrator(folder, "server", "status", "--help")
    assert "[text|json|dsn]" in status.stdout
    assert "starts nothing" in status.stdout


def test_the_docs_name_the_embedded_server_as_it_is() -> None:
    documents = [README, *sorted((README.parent / "docs").glob("*.md"))]
    for document in documents:
        assert "pgserver" not in document.read_text(), document  # the package it replaced
    readme = README.read_text()
    assert f"PostgreSQL {embedded.major()}" in readme
    assert f"[`{embedded.PACKAGE}`](https://pypi.org/project/{embedded.PACKAGE}/)" in readme
    assert "| `migrator server status` / `start` / `stop` |" in readme


def test_a_stale_postmaster_pid_naming_another_program_is_no_server(folder: Path) -> None:
    # A server killed without its clean-up leaves postmaster.pid; its pid may belong to
    # another program since: that one is neither reported nor signalled.
    assert migrator(folder, "server", "start").returncode == 0
    pgdata = folder / ".migrator" / "pgdata"
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    assert migrator(folder, "server", "stop").returncode == 0
    other = subprocess.Popen(["sleep", "300"])
    try:
        (pgdata / "postmaster.pid").write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")
        found = document(folder, "server", "status")
        assert found["running"] is False and found["pid"] is None, found
        stopped = migrator(folder, "server", "stop")
        assert "nothing to stop" in stopped.stdout, stopped.stdout
        assert other.poll() is None  # not signalled
        restarted = migrator(folder, "server", "start")  # the server starts over it
        assert restarted.returncode == 0, restarted.stderr
        assert "started the embedded PostgreSQL" in restarted.stdout
        running = document(folder, "server", "status")
        assert running["running"] is True and running["pid"] != other.pid, running
        assert psutil.Process(running["pid"]).name() == "postgres"  # type: ignore[arg-type]
    finally:
        other.kill()
        other.wait()


def test_a_server_that_cannot_start_is_exit_5_in_one_line(folder: Path) -> None:
    pgdata = folder / ".migrator" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text(f"{embedded.major()}\n")  # and nothing else
    done = migrator(folder, "server", "start")
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "error: cannot reach the database at the embedded PostgreSQL in .migrator/pgdata: "
        "pg_ctl failed: postgres: could not access the server configuration file "
        f'"{pgdata}/postgresql.conf": No such file or directory; '
        "its log is .migrator/pgdata/log"
    ], done.stderr  # not the package's dump of the command and the whole log
    assert document(folder, "server", "status")["running"] is False
