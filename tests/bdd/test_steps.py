"""Scenarios of features/steps, run for real against PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios

scenarios("steps")


def _retried(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("select to_regclass('migrator.events')").fetchone() == (None,):
            return False
        found = conn.execute("select 1 from migrator.events where status = 'retry'").fetchone()
        return found is not None


@pytest.fixture
def lock_holders() -> Iterator[list[threading.Event]]:
    releases: list[threading.Event] = []
    yield releases
    for release in releases:
        release.set()


@given(parsers.parse('another session holds a lock on "{table}" until the step is tried again'))
def _(table: str, world: dict[str, Any], lock_holders: list[threading.Event]) -> None:
    held, release = threading.Event(), threading.Event()
    lock_holders.append(release)

    def hold() -> None:
        with psycopg.connect(world["dsn"]) as conn:
            conn.execute(f"lock table {table} in access exclusive mode")  # type: ignore[arg-type]
            held.set()
            deadline = time.monotonic() + 60
            while not release.is_set() and not _retried(world["dsn"]):
                assert time.monotonic() < deadline, "the step was never retried"
                time.sleep(0.05)
            conn.rollback()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
