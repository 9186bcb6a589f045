"""Fixtures of the integration tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plans import TRACE_TABLES


@pytest.fixture
def traced(sql: Any) -> None:
    """Tables `ran` and `undone`, for plans of traced steps (tests/plans.py)."""
    sql(TRACE_TABLES)
