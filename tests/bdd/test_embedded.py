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
    for pgdata in (path / ".migrator").glob("pgdata*"):
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

    pgdata = str(world["folder"] / ".migrator" / "pgdata")
    running = [
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and pgdata in " ".join(p.info["cmdline"] or [])
    ]
    assert not running, running
