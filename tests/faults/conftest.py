"""Fixtures of the fault matrix: databases on either server, the CLI in-process, references."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import secrets_sweep
from tests.faults.scenario import PLAN, query, seed, snapshot

_names = itertools.count()


@contextmanager
def fresh_database(admin_dsn: str, config: pytest.Config) -> Iterator[str]:
    """A new empty database on the server of `admin_dsn`; its DSN. Swept for secrets
    (tests/secrets_sweep.py), then dropped."""
    name = f"f_{os.getpid()}_{next(_names)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    base, _, params = admin_dsn.partition("?")
    dsn = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{params}" if params else "")
    try:
        yield dsn
    finally:
        sweep = secrets_sweep.sweep_of(config)
        if sweep is not None:
            sweep.check_database(dsn)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run the migrator CLI in-process: cli(dsn, "status", plan, ...)."""
    from migrator.cli import main

    def run(dsn: str, *args: str | Path) -> Result:
        capsys.readouterr()
        code = main([*map(str, args), "--dsn", dsn])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def reference(
    admin_dsn: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> dict[str, Any]:
    """The data of a clean run to each phase: the seed (before), a clean apply (after)."""
    from migrator.cli import main

    plan = tmp_path_factory.mktemp("reference") / "plan.yaml"
    plan.write_text(PLAN)
    with fresh_database(admin_dsn, request.config) as dsn:
        seed(dsn)
        before = snapshot(dsn)
        assert main(["apply", str(plan), "--to", "after", "--dsn", dsn]) == 0
        after = snapshot(dsn)
        assert query(dsn, "select count(*) from unified") == [(600,)]
    return {"before": before, "after": after}
