"""Fixtures of the integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.plans import TRACE_TABLES
from tests.rehearsing import fitting_pg_dump


@pytest.fixture
def traced(sql: Any) -> None:
    """Tables `ran` and `undone`, for plans of traced steps (tests/plans.py)."""
    sql(TRACE_TABLES)


@pytest.fixture
def rehearse(migrator: Any, admin_dsn: str) -> Any:
    """`migrator rehearse` on the test's database, its scratch copy on the test server
    (restored from the test server's own pg_dump when the embedded one is of another major)."""
    fitting = fitting_pg_dump(admin_dsn)

    def run(plan: Path, *args: str) -> Any:
        return migrator("rehearse", plan, "--scratch-dsn", admin_dsn, *fitting, *args)

    return run
