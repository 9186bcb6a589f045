"""benchmarks/backfill.py writes what it claims to measure, and runs to its table.

Its numbers belong to the benchmark, not to a test; this checks the three methods write
the same payloads (the SQL statement against the Python loop, an independent way of
building them), and that a small run of every method, in two rounds, prints its table.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg

from tests.benchmarks import BENCHMARKS, load

BENCHMARK = BENCHMARKS / "backfill.py"


def test_the_statement_and_the_python_loop_write_equal_payloads(admin_dsn: str) -> None:
    bench: Any = load("backfill")
    bench.build_template(admin_dsn, "bench_test_template", 300)
    try:
        statement = bench.fresh_copy(admin_dsn, "bench_test_template", "bench_test_single")
        loop = bench.fresh_copy(admin_dsn, "bench_test_template", "bench_test_naive")
        bench.measure_single_statement(statement)
        bench.naive_loop(loop)
        with psycopg.connect(statement) as conn:
            written = conn.execute(
                "select session_id::text, payload::text from scoring_results"
            ).fetchall()
        with psycopg.connect(loop) as conn:
            conn.execute("create temp table expected (session_id uuid, payload jsonb)")
            with conn.cursor().copy("copy expected from stdin") as copy:
                for row in written:
                    copy.write_row(row)
            # jsonb equality compares numbers by value: 0.120 from SQL, 0.12 from Python.
            compared = conn.execute(
                "select count(*), count(*) filter (where r.payload = e.payload), "
                "(select count(*) from scoring_results) "
                "from expected e left join scoring_results r using (session_id)"
            ).fetchone()
        assert compared == (270, 270, 270)  # the completed sessions: 9 in 10
    finally:
        for name in ("bench_test_single", "bench_test_naive", "bench_test_template"):
            bench.drop(admin_dsn, name)


def test_a_small_run_of_every_method_prints_its_table(admin_dsn: str) -> None:
    small = ["--sessions", "400", "--batch-size", "100", "--repeat", "2"]
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--dsn", admin_dsn, *small],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "360 completed sessions to unify" in out
    assert "best of 2 rounds" in out
    for method in (
        "1 migrator, parallel 1 (100)",
        "1 migrator, parallel 2 (100)",
        "2 one INSERT ... SELECT",
        "3 per-session Python loop",
    ):
        assert method in out
    assert out.count("rounds: ") == 4  # each method's two rounds
    assert "parallel 1: ratio 1/2: " in out and "parallel 2: ratio 1/2: " in out
    assert out.count("4 batches, mean") == 2  # 360 sessions in batches of 100
    with psycopg.connect(admin_dsn) as conn:
        left = conn.execute(
            "select count(*) from pg_database where datname like 'bench%'"
        ).fetchone()
    assert left == (0,)  # it drops every database it made
