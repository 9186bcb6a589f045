"""Shared fixtures: a real PostgreSQL for the session, a fresh database per test.

The server is the embedded one, or the major MIGRATOR_TEST_PG names (14 to 17, or a folder
of PostgreSQL programs: `migrator.testing_servers`); the pytest header says which ran.

Both come from `migrator.testing`, the fixtures a plugin author enables the same way; ours
add the secrets sweep (the server's log, a password in the DSN, every database swept).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import secrets_sweep

if TYPE_CHECKING:
    from migrator.testing import Postgres
    from tests.faults.servers import RestartableServer
    from tests.poolers import Poolers

pytest_plugins = ["migrator.testing"]


def pytest_configure(config: pytest.Config) -> None:
    # A DSN password and an ${env:...} secret, searched for in everything the tests'
    # runs leave behind (tests/secrets_sweep.py); the last test fails if one is found.
    secrets_sweep.register(config)


@pytest.fixture(scope="session")
def pg_server(migrator_postgres: Postgres, request: pytest.FixtureRequest) -> Postgres:
    """One PostgreSQL for the whole test session, in a temporary directory."""
    sweep = secrets_sweep.sweep_of(request.config)
    if sweep is not None:
        sweep.files.append(migrator_postgres.log)  # the server's log
    return migrator_postgres


@pytest.fixture(scope="session")
def restartable_server(request: pytest.FixtureRequest) -> Iterator[RestartableServer]:
    """A PostgreSQL server of its own, that tests may crash and start again (the shared
    one is never restarted; tests/faults/servers.py). Its DSN carries the sweep's
    password, as the shared server's does, and its log is swept. It is of the same major
    as the shared one."""
    from migrator.testing_servers import chosen_programs
    from tests.faults.servers import RestartableServer

    sweep = secrets_sweep.sweep_of(request.config)
    password = sweep.password if sweep else None
    server = RestartableServer(password=password, programs=chosen_programs())
    if sweep is not None:
        sweep.files.append(server.pgdata / "log")
    yield server
    server.close()


@pytest.fixture(scope="session")
def admin_dsn(pg_server: Postgres, request: pytest.FixtureRequest) -> str:
    """The test server's DSN, with the sweep's password (the server trusts its socket)."""
    dsn = pg_server.dsn
    sweep = secrets_sweep.sweep_of(request.config)
    return secrets_sweep.with_password(dsn, sweep.password) if sweep else dsn


@pytest.fixture(scope="session")
def poolers(admin_dsn: str) -> Iterator[Poolers]:
    """`poolers("transaction")` or `poolers("session")`: a real PgBouncer in that mode in
    front of the test server, started on first use and stopped at the end of the session
    (tests/poolers.py); its `dsn(database)` reaches a test's database through it."""
    from tests.poolers import Poolers

    started = Poolers(admin_dsn)
    yield started
    started.close()


@pytest.fixture
def database(admin_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test (`migrator_database`, on the DSN with the
    sweep's password); its DSN. Swept for secrets, then dropped."""
    from migrator.testing import fresh_database

    with fresh_database(admin_dsn) as dsn:
        yield dsn
        sweep = secrets_sweep.sweep_of(request.config)
        if sweep is not None:
            sweep.check_database(dsn)


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
