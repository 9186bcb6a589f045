"""Scenarios of features/embedded: migrator as a process with no database configured."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

scenarios("embedded")


@pytest.fixture
def folder() -> Iterator[Path]:
    # Short path: PostgreSQL's socket lives in the data folder, and socket paths are short.
    path = Path(tempfile.mkdtemp(prefix="mg-"))
    yield path
    pgdata = path / ".migrator" / "pgdata"
    from migrator.db import embedded

    embedded.stop(pgdata)


@given(parsers.parse('an empty folder with the plan "{name}":'))
def _(name: str, docstring: str, folder: Path, world: dict[str, Any]) -> None:
    (folder / name).write_text(docstring + "\n")
    world["folder"] = folder


@when(parsers.parse('I run "{command}" there with no database configured'))
def _(command: str, world: dict[str, Any]) -> None:
    words = shlex.split(command)
    assert words[0] == "migrator"
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    proc = subprocess.run(
        [sys.executable, "-m", "migrator", *words[1:]],
        cwd=world["folder"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    world["code"], world["output"] = proc.returncode, proc.stdout + proc.stderr


@then(parsers.parse('the folder has a PostgreSQL data directory in "{path}"'))
def _(path: str, world: dict[str, Any]) -> None:
    assert (world["folder"] / path / "PG_VERSION").is_file()
