"""benchmarks/fleet.py builds what it claims to measure, and a small run prints its table.

Its numbers belong to the benchmark (docs/performance.md, Fleets); this checks that its
plan and fleet file are valid as written, that its reference does the plan's work on each
database, and that a run of 3 targets with `parallel` 1 and 2 moves them all through the
real `migrator fleet apply` and prints a row for each.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from migrator.fleet.model import load_fleet
from migrator.plan import load_plan_text
from tests.benchmarks import BENCHMARKS, load

BENCHMARK = BENCHMARKS / "fleet.py"


def test_its_plan_and_fleet_file_are_valid(tmp_path: Path) -> None:
    bench: Any = load("fleet")
    plan = load_plan_text(bench.plan_text())
    (transition,) = plan.transitions
    assert len(transition.steps) == 5
    path = tmp_path / "fleet.yaml"
    path.write_text(bench.fleet_text(7, 4))
    fleet = load_fleet(path)
    assert [w.parallel for w in fleet.waves] == [4]
    assert [t.name for t in fleet.spec.targets] == [f"t{i:03d}" for i in range(7)]  # type: ignore[union-attr]
    assert "postgresql" not in path.read_text()  # the DSNs come from the environment


def test_its_reference_does_the_plans_work_on_every_database(admin_dsn: str) -> None:
    bench: Any = load("fleet")
    try:
        dsns = bench.fresh_databases(admin_dsn, "test", 2)
        assert bench.reference(dsns) > 0
        bench.check_moved(dsns, by_migrator=False)
        with psycopg.connect(dsns[1]) as conn:
            assert conn.execute("select count(*) from bench where v like 'V%'").fetchone() == (100,)
    finally:
        bench.drop_databases(admin_dsn)
    with psycopg.connect(admin_dsn) as conn:
        left = conn.execute("select count(*) from pg_database where datname like 'fleet_bench%'")
        assert left.fetchone() == (0,)


def test_a_small_run_moves_every_target_and_prints_its_table(admin_dsn: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--dsn", admin_dsn, "--targets", "3", "--parallel", "1,2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("3 targets (databases of one server), a plan of 5 sql steps")
    number = r"\s+\d+\.\d+"
    assert re.fullmatch(rf"\s+ref{number}{number}{number}\s+1\.0", lines[2])
    for parallel, line in zip((1, 2), lines[3:5], strict=True):
        assert re.fullmatch(rf"\s+{parallel}{number * 3}\s+-?\d+\.\d+{number}", line), line
    assert lines[5].startswith("process start-up")
