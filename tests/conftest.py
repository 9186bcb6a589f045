"""Shared fixtures: a real PostgreSQL (pgserver) for the session, a fresh database per test."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import secrets_sweep

if TYPE_CHECKING:
    from tests.faults.servers import RestartableServer

_counter = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    # A DSN password and an ${env:...} secret, searched for in everything the tests'
    # runs leave behind (tests/secrets_sweep.py); the last test fails if one is found.
    secrets_sweep.register(config)


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[object]:
    """One embedded PostgreSQL for the whole test session, in a temporary directory."""
    import pgserver

    # Unix socket paths are short (107 bytes): keep the data directory near /tmp.
    pgdata = Path(tempfile.mkdtemp(prefix="migrator-test-pg-"))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    sweep = secrets_sweep.sweep_of(request.config)
    if sweep is not None:
        sweep.files.append(pgdata / "log")  # the server's log
    yield server
    server.cleanup()
    shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def restartable_server(request: pytest.FixtureRequest) -> Iterator[RestartableServer]:
    """A PostgreSQL server of its own, that tests may crash and start again (the shared
    one is never restarted; tests/faults/servers.py). Its DSN carries the sweep's
    password, as the shared server's does, and its log is swept."""
    from tests.faults.servers import RestartableServer

    sweep = secrets_sweep.sweep_of(request.config)
    server = RestartableServer(password=sweep.password if sweep else None)
    if sweep is not None:
        sweep.files.append(server.pgdata / "log")
    yield server
    server.close()


@pytest.fixture(scope="session")
def admin_dsn(pg_server: object, request: pytest.FixtureRequest) -> str:
    """The test server's DSN, with the sweep's password (the server trusts its socket)."""
    dsn = str(pg_server.get_uri())  # type: ignore[attr-defined]
    sweep = secrets_sweep.sweep_of(request.config)
    return secrets_sweep.with_password(dsn, sweep.password) if sweep else dsn


def _with_database(dsn: str, name: str) -> str:
    base, _, query = dsn.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def database(admin_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test; its DSN. Swept for secrets, then dropped."""
    import psycopg

    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin_dsn, name)
    sweep = secrets_sweep.sweep_of(request.config)
    if sweep is not None:
        sweep.check_database(_with_database(admin_dsn, name))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def registry():  # type: ignore[no-untyped-def]
    """The registry of the installed plugins, built fresh for the test."""
    from migrator.plugin.manager import get_plugin_manager

    return get_plugin_manager().build_registry()


@pytest.fixture
def write_plan(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a plan file from text; returns its path."""

    def write(text: str, name: str = "plan.yaml") -> Path:
        import textwrap

        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def migrator(capsys: pytest.CaptureFixture[str], database: str):  # type: ignore[no-untyped-def]
    """Run the migrator CLI in-process against the test's database."""
    from migrator.cli import main

    def run(*args: str | Path, dsn: bool = True) -> CliResult:
        argv = [str(a) for a in args]
        if dsn and argv and argv[0] not in ("validate", "schema", "plugins"):
            argv += ["--dsn", database]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def sql(database: str):  # type: ignore[no-untyped-def]
    """Run SQL on the test database (autocommit); returns all rows, or [] for none."""
    import psycopg

    def run(query: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(database, autocommit=True) as conn:
            cur = conn.execute(query, params or None)
            return cur.fetchall() if cur.description else []

    return run
