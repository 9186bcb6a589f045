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
    for command in commands:  # each with the server stopped: it starts, or says why
        embedded.stop(folder / ".migrator" / "pgdata")
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
    assert "none yet" not in status.stdout  # a file is there
    assert "problem: .migrator/pgdata is not a folder" in status.stdout


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


def test_a_leftover_postmaster_pid_naming_another_servers_process_is_no_server(
    folder: Path,
) -> None:
    # The pid of a server killed without its clean-up may be given to another server's
    # postmaster, or to one of its session processes: neither is reported, nor signalled.
    import psycopg

    pgdata = folder / ".migrator" / "pgdata"
    assert migrator(folder, "server", "start").returncode == 0
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    assert migrator(folder, "server", "stop").returncode == 0
    with embedded.temporary("mg-other-") as other, psycopg.connect(other.dsn) as session:
        other_postmaster = int((other.pgdata / "postmaster.pid").read_text().split()[0])
        backend = session.execute("select pg_backend_pid()").fetchone()
        assert backend is not None
        for pid in (other_postmaster, backend[0]):
            (pgdata / "postmaster.pid").write_text("\n".join([str(pid), *lines[1:]]) + "\n")
            found = document(folder, "server", "status")
            assert found["running"] is False and found["pid"] is None, (pid, found)
            stopped = migrator(folder, "server", "stop")
            assert "nothing to stop" in stopped.stdout, (pid, stopped.stdout)
            assert alive(pid)  # not signalled: the other server's session still works
            assert session.execute("select 1").fetchone() == (1,)
        started = migrator(folder, "server", "start")  # not "already runs": it starts
        assert started.returncode == 0, started.stderr
        assert "started the embedded PostgreSQL" in started.stdout, started.stdout
        running = document(folder, "server", "status")
        assert running["pid"] not in (other_postmaster, backend[0]), running
        assert migrator(folder, "server", "stop").returncode == 0
        assert alive(other_postmaster) and session.execute("select 1").fetchone() == (1,)


NAMES = ["my project", "it's", 'say "hi"', "a&b;c", "$(touch PWNED)", "`touch PWNED`", "p%41q"]
"""Project folders a shell would read: each server starts, no command in a name runs."""


def test_a_project_folder_of_any_name_has_its_server(folder: Path) -> None:
    import psycopg

    for name in NAMES:
        project = folder / name
        project.mkdir()
        try:
            done = migrator(project, "server", "start", "--output", "dsn")
            assert done.returncode == 0, (name, done.stdout, done.stderr)
            dsn = done.stdout.strip()
            assert "started the embedded PostgreSQL in .migrator/pgdata" in done.stderr
            with psycopg.connect(dsn) as session:
                assert session.execute("select 1").fetchone() == (1,)
            psql = subprocess.run(
                [str(embedded.programs() / "psql"), dsn, "-Atc", "select 'reached'"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert psql.stdout == "reached\n", (name, dsn, psql.stderr)
            assert document(project, "server", "status")["dsn"] == dsn
            stopped = migrator(project, "server", "stop")
            assert "stopped the embedded PostgreSQL" in stopped.stdout, stopped.stderr
        finally:
            embedded.stop(project / ".migrator" / "pgdata")
    assert not [str(p) for p in folder.rglob("PWNED")], "a command in a folder name ran"
    assert not Path("PWNED").exists()


def test_a_project_folder_with_a_line_break_in_its_path_is_refused(folder: Path) -> None:
    project = folder / "two\nlines"  # PostgreSQL refuses it in any data folder's path
    project.mkdir()
    done = migrator(project, "server", "start")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: the path of .migrator/pgdata holds a line break")
    assert not (project / ".migrator").exists()


def test_the_dsn_of_a_socket_folder_is_percent_encoded(folder: Path) -> None:
    project = folder / "p%41q"  # a plain path: the socket is in the data folder
    project.mkdir()
    dsn = migrator(project, "server", "start", "--output", "dsn").stdout.strip()
    assert dsn == f"postgresql://postgres@/postgres?host={folder}/p%2541q/.migrator/pgdata"
    embedded.stop(project / ".migrator" / "pgdata")


def test_a_file_where_the_migrator_folder_goes_is_bad_usage(folder: Path) -> None:
    (folder / ".migrator").write_text("not a folder")
    done = migrator(folder, "server", "start")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: .migrator is not a folder"), done.stderr
    assert "Traceback" not in done.stderr
    status = migrator(folder, "server", "status")
    assert status.returncode == 0, status.stderr
    assert "none yet" not in status.stdout
    assert "problem: .migrator is not a folder" in status.stdout


def test_a_first_start_that_fails_says_why(folder: Path) -> None:
    pgdata = folder / ".migrator" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "notes.txt").write_text("not a data folder\n")  # initdb refuses it
    done = migrator(folder, "server", "start")
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "error: cannot reach the database at the embedded PostgreSQL in .migrator/pgdata: "
        f'initdb failed: initdb: error: directory "{pgdata}" exists but is not empty'
    ], done.stderr
    assert not (pgdata / "log").exists()


def test_of_three_simultaneous_starts_one_starts_the_server(folder: Path) -> None:
    command = [sys.executable, "-m", "migrator", "server", "start", "--output", "json"]
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    starts = [
        subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    found = [json.loads(start.communicate(timeout=120)[0]) for start in starts]
    assert [start.returncode for start in starts] == [0, 0, 0]
    assert sorted(document["started"] for document in found) == [False, False, True], found
    assert len({document["pid"] for document in found}) == 1, found


def test_the_demo_on_a_server_that_is_gone_exits_5_naming_it(folder: Path) -> None:
    # As when `migrator server stop` ends the demo's server under it: its own connections
    # (not a run's) fail with the server gone, a database out of reach, never a bug.
    gone = f"postgresql://postgres@/postgres?host={folder / 'no-server-here'}"
    done = migrator(folder, "demo", "--sessions", "300", "--dsn", gone)
    assert done.returncode == 5, done.stdout + done.stderr
    assert done.stderr.startswith("error: cannot reach the database at the demo's PostgreSQL: ")
    assert "it is gone: connection is bad: connection to server on socket" in done.stderr
    assert "internal error" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
