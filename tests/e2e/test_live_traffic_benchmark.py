"""benchmarks/live_traffic.py runs every scenario to its table, with the application writing.

Its latencies belong to the benchmark, not to a test (docs/performance.md, Live traffic);
this checks that a quick run measures what it claims: every scenario's row, writes
recorded during each, the blockers actually waited on, the transactional step retried
behind its blocker, the batches of a backfill read from its checkpoint, nothing left.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import psycopg

from tests.benchmarks import BENCHMARKS, load

BENCHMARK = BENCHMARKS / "live_traffic.py"
ROWS = [
    "a one UPDATE (psql)",
    "b backfill, 1 stream",
    "b backfill, 2 streams",
    "b backfill, batch_time 250ms",
    "b backfill, 1 stream + blocker",
    "c autocommit ALTER",
    "c autocommit ALTER + blocker",
    "d CREATE INDEX CONCURRENTLY",
    "d CREATE INDEX CONC. + old xact",
    "e transactional ALTER",
    "e transactional ALTER + blocker",
]
LABEL, OUTCOME = 34, 16  # the widths of the table's first two columns
COLUMNS = [  # the rest, as the header names them
    *("work", "ratio", "writes", "p50", "p99", "max"),
    *("lt", "over", "within", "retries", "held"),
]


def rows_of(out: str) -> dict[str, dict[str, str]]:
    """The table's rows by scenario: its columns, named as in its header."""
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("scenario"))
    assert set(lines[head + 1]) == {"-"}
    table = {}
    for line in lines[head + 2 :]:
        if not line.strip():
            break
        label, outcome = line[:LABEL].strip(), line[LABEL : LABEL + OUTCOME].strip()
        if outcome == "skipped":
            table[label] = {"outcome": outcome}
            continue
        values = line[LABEL + OUTCOME :].split(maxsplit=len(COLUMNS) - 1)
        table[label] = {"outcome": outcome, **dict(zip(COLUMNS, values, strict=True))}
    return table


def test_a_quick_run_measures_every_scenario_under_traffic(admin_dsn: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--dsn", admin_dsn],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    table = rows_of(out)
    assert list(table) == ROWS
    for label, row in table.items():
        if row["outcome"] == "skipped":  # a migrator that does not know batch_time yet
            assert label == "b backfill, batch_time 250ms"
            assert "not measured: validate refuses it" in out and "batch_time" in out
            continue
        blocked = label.endswith(("+ blocker", "+ old xact"))
        assert row["outcome"] in (("done", "failed, undone") if blocked else ("done",)), label
        assert int(row["writes"]) > 0, label  # the application wrote during the work
        assert float(row["work"]) > 0, label
        assert float(row["p50"]) <= float(row["p99"]) <= float(row["max"]), label
        if label.startswith("a "):
            assert row["lt"] == "none" and row["within"] == "-"
        else:
            assert row["lt"] == "0.5s" and row["within"] in ("yes", "NO"), label
        if label.startswith("b backfill, 1 stream") or "batch_time" in label:
            assert row["ratio"] != "-", label  # beside the single UPDATE
        # A blocker that nobody waited on would measure nothing.
        assert row["held"].endswith("s") if blocked else row["held"] == "-", label
    # Behind ACCESS SHARE held 1.5 s, a transactional step under 0.5 s is retried.
    assert int(table["e transactional ALTER + blocker"]["retries"]) >= 1
    assert "retry" in out and "blocked by pid" in out
    # The 1-stream backfill's batches, read from its checkpoint: each one it recorded,
    # read or missed (a quick batch can be overwritten before the next look).
    notes = out.split("b backfill, 1 stream:\n")[1].split("\nb backfill")[0]
    recorded = re.search(r"recorded by the backfill: .*\bbatches (\d+)", notes)
    read = re.search(r"checkpoint: (\d+) batch records read \((\d+) missed\)", notes)
    assert recorded and read, notes
    assert int(read[1]) + int(read[2]) == int(recorded[1]) > 3
    with psycopg.connect(admin_dsn) as conn:
        left = conn.execute(
            "select count(*) from pg_database where datname = 'live_traffic'"
        ).fetchone()
    assert left == (0,)  # it drops the database it made


def test_the_writes_counted_are_those_in_flight_during_the_work() -> None:
    traffic: Any = load("traffic")
    w = traffic.Write
    writes = [
        w("update", 0.0, 0.9),  # over before the work
        w("update", 0.5, 1.5),  # began before, stalled into it
        w("insert", 2.0, 2.1),
        w("update", 2.5, 7.5),  # began during it, done after
        w("update", 8.0, 8.1),  # after
    ]
    latency = traffic.Latency.of(writes, 1.0, 3.0)
    assert (latency.writes, latency.longest, latency.p50) == (3, 5.0, 1.0)


def test_batches_are_timed_from_one_start_to_the_next() -> None:
    traffic: Any = load("traffic")
    batches = traffic.Batches("unused", "plan")
    t = datetime(2026, 1, 1)
    for n, rows, seconds in ((0, 0, 0.0), (1, 10, 0.1), (2, 30, 0.4), (4, 60, 1.0), (5, 70, 1.2)):
        batches.seen[n] = (rows, t + timedelta(seconds=seconds))
    # batch 1: 10 rows, 0.3 s to batch 2's start; batch 2: no record of batch 3;
    # batch 4: batch 3's record missed, so its rows are unknown.
    assert batches.periods() == [(10, 0.3)]
    assert (batches.read, batches.missed) == (4, 1)
    del batches.seen[0]  # the record before the first batch, overwritten unread
    assert batches.periods() == [(10, 0.3)]
    assert (batches.read, batches.missed) == (4, 1)
