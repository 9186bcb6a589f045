"""Shared fixtures: a real PostgreSQL (pgserver) for the session, a fresh database per test."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "plans"

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One embedded PostgreSQL for the whole test session, in a temporary directory."""
    import pgserver

    # Unix socket paths are short (107 bytes): keep the data directory near /tmp.
    pgdata = Path(tempfile.mkdtemp(prefix="migrator-test-pg-"))
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    yield server
    server.cleanup()
    shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_dsn(pg_server: object) -> str:
    return str(pg_server.get_uri())  # type: ignore[attr-defined]


def _with_database(dsn: str, name: str) -> str:
    base, _, query = dsn.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def database(admin_dsn: str) -> Iterator[str]:
    """A fresh, empty database for one test; its DSN. Dropped afterwards."""
    import psycopg

    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin_dsn, name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def registry():  # type: ignore[no-untyped-def]
    """The registry of the installed plugins, built fresh for the test."""
    from migrator.plugins import get_plugin_manager

    return get_plugin_manager().build_registry()
