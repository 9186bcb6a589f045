"""Fixtures of the fault matrix: databases on either server, the CLI in-process, references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults.scenario import PLAN, seed, snapshot
from tests.helpers import Cli, Result, fresh_database, query


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
