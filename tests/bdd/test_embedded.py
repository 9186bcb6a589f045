"""Scenarios of features/embedded: migrator as a process with no database configured, and
`migrator server` showing, starting and stopping the embedded PostgreSQL."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from migrator.db import embedded

scenarios("embedded")


@pytest.fixture
def folder() -> Iterator[Path]:
    # Short path: PostgreSQL's socket lives in the data folder, and socket paths are short.
    path = Path(tempfile.mkdtemp(prefix="mg-")).resolve()
    yield path
    for pgdata in path.glob("**/.migrator/pgdata*"):  # also in a project folder in it
        embedded.stop(pgdata)
    shutil.rmtree(path, ignore_errors=True)


def _environment(folder: Path) -> dict[str, str]:
    """No database configured; `migrator` is this checkout's, `psql` the embedded one."""
    shims = folder / "bin"
    shim = shims / "migrator"
    if not shim.exists():
        shims.mkdir(exist_ok=True)
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m migrator "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    env["PATH"] = os.pathsep.join([str(shims), str(embedded.programs()), env["PATH"]])
    return env


def _record(proc: subprocess.CompletedProcess[str], world: dict[str, Any]) -> None:
    world["code"], world["output"] = proc.returncode, proc.stdout + proc.stderr
    world["stdout"], world["stderr"] = proc.stdout, proc.stderr


@given(parsers.parse('an empty folder with the plan "{name}":'))
def _(name: str, docstring: str, folder: Path, world: dict[str, Any]) -> None:
    (folder / name).write_text(docstring + "\n")
    world["folder"] = folder


@given(parsers.parse('an empty folder named "{name}" with the plan "{plan}":'))
def _(name: str, plan: str, docstring: str, folder: Path, world: dict[str, Any]) -> None:
    project = folder / name  # removed with `folder`; its server stopped at the end
    project.mkdir()
    (project / plan).write_text(docstring + "\n")
    world["folder"] = project


@pytest.fixture
def other_server() -> Iterator[dict[str, Any]]:
    """Another PostgreSQL server of this machine, with a session open on it."""
    import psycopg

    with embedded.temporary("mg-other-") as other, psycopg.connect(other.dsn) as session:
        postmaster = int((other.pgdata / "postmaster.pid").read_text().split()[0])
        backend = session.execute("select pg_backend_pid()").fetchone()
        assert backend is not None
        yield {"postmaster": postmaster, "session": backend[0], "conn": session}


@given("another PostgreSQL server runs on this machine, with a session open")
def _(other_server: dict[str, Any], world: dict[str, Any]) -> None:
    world["other"] = other_server


@given(
    parsers.parse(
        "the folder's server was killed, its postmaster.pid naming the other server's {process}"
    )
)
def _(process: str, world: dict[str, Any]) -> None:
    pgdata = world["folder"] / ".migrator" / "pgdata"
    embedded.start(pgdata)
    lines = (pgdata / "postmaster.pid").read_text().splitlines()
    embedded.stop(pgdata)
    pid = world["other"]["postmaster" if process == "postmaster" else "session"]
    (pgdata / "postmaster.pid").write_text("\n".join([str(pid), *lines[1:]]) + "\n")


@then("the other server and its session still run")
def _(world: dict[str, Any]) -> None:
    import psutil

    assert psutil.Process(world["other"]["postmaster"]).name() == "postgres"
    assert world["other"]["conn"].execute("select 1").fetchone() == (1,)


@then(parsers.parse('no file "{name}" was made'))
def _(name: str, world: dict[str, Any]) -> None:
    assert not list(world["folder"].parent.rglob(name))


@given("the folder's .migrator/pgdata was made by PostgreSQL 16, its server still running")
def _(world: dict[str, Any]) -> None:
    # A PostgreSQL 18 folder whose PG_VERSION says 16 stands in for an earlier migrator's.
    pgdata = world["folder"] / ".migrator" / "pgdata"
    embedded.start(pgdata)
    (pgdata / "PG_VERSION").write_text("16\n")


@when(parsers.parse('I run "{command}" there with no database configured'))
def _(command: str, world: dict[str, Any]) -> None:
    words = shlex.split(command)
    assert words[0] == "migrator"
    proc = subprocess.run(
        [sys.executable, "-m", "migrator", *words[1:]],
        cwd=world["folder"],
        env=_environment(world["folder"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    _record(proc, world)


@when(parsers.parse('I run the shell command "{command}" there'))
def _(command: str, world: dict[str, Any]) -> None:
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=world["folder"],
        env=_environment(world["folder"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    _record(proc, world)


@when("I move it aside as the message says")
def _(world: dict[str, Any]) -> None:
    said = re.search(r"move it aside \(`(mv [^`]+)`\)", world["output"])
    assert said, world["output"]
    subprocess.run(shlex.split(said[1]), cwd=world["folder"], check=True, timeout=30)


@then(parsers.parse('the folder has a PostgreSQL data directory in "{path}"'))
def _(path: str, world: dict[str, Any]) -> None:
    assert (world["folder"] / path / "PG_VERSION").is_file()


@then(parsers.parse('the folder has no "{path}"'))
def _(path: str, world: dict[str, Any]) -> None:
    assert not (world["folder"] / path).exists()


@then("no PostgreSQL runs in the folder")
def _(world: dict[str, Any]) -> None:
    import psutil

    pgdata = world["folder"] / ".migrator" / "pgdata"
    running = [  # a postmaster runs in its data folder (migrator gives it no -D)
        p.pid
        for p in psutil.process_iter(["name", "cwd"])
        if p.info["name"] == "postgres" and p.info["cwd"] and Path(p.info["cwd"]) == pgdata
    ]
    assert not running, running
