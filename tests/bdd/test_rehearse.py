"""Scenarios of features/rehearse, run for real against PostgreSQL."""

from __future__ import annotations

import pytest
from pytest_bdd import given, scenarios

scenarios("rehearse")


@given("scratch copies are made on the test server")
def _(monkeypatch: pytest.MonkeyPatch, admin_dsn: str) -> None:
    monkeypatch.setenv("MIGRATOR_SCRATCH_DSN", admin_dsn)
