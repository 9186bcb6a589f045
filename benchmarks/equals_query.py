"""Memory benchmark of `expect: {equals_query: SQL}`: flat whatever the number of rows.

Two tables of 1,000,000 rows (by default) with jsonb, text[] and numeric columns, the
second a copy of the first, compared by a plan's pre-check
`query: select ... from docs` / `expect: {equals_query: select ... from docs_copy}`,
evaluated by `migrator plan` (the dry run evaluates pre-checks) in a child process; then
the very same plan on the tables emptied. The peak memory (RSS high-water mark,
`ru_maxrss` of the child) of the two runs must be within 20% of each other: the
comparison happens in the database, and no result set reaches migrator.

    python benchmarks/equals_query.py
    python benchmarks/equals_query.py --rows 300000 --old    # also the old way's memory

`--old` also measures the way equals_query worked before (both result sets fetched into
Python and counted there) on the same rows, in a child process of its own.

Without --dsn it starts an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from embedded import server  # benchmarks/embedded.py, beside this script

LIMIT = 1.20  # the peak of the full run at most 20% over the empty run's
COLUMNS = "id, body, tags, score"
TABLES = """
create table docs (id int, body jsonb, tags text[], score numeric);
insert into docs select g,
    jsonb_build_object(
        'id', g, 'name', 'document ' || g, 'parts', jsonb_build_array(g % 7, g % 11)),
    array['a' || g % 5, 'b' || g % 3, 'c'],
    g * 1.5
  from generate_series(1, %(rows)s) g;
create table docs_copy as table docs;
analyze docs; analyze docs_copy;
"""
PLAN = f"""\
plan: parity
kind: hotfix
pre_checks:
  - name: the copy has the same rows
    query: select {COLUMNS} from docs
    expect: {{equals_query: "select {COLUMNS} from docs_copy"}}
steps:
  - sql: select 1
"""


def fresh_database(admin: str, name: str, rows: int) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(TABLES.replace("%(rows)s", str(int(rows))))
    return dsn


def run_child(argv: list[str]) -> tuple[float, float, str]:
    """Run a child process; (wall seconds, its peak RSS in MB, its output)."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if code != 0:
        raise SystemExit(f"{argv[:4]} failed ({code}):\n{text}")
    return time.monotonic() - started, usage.ru_maxrss / 1024, text


def dry_run(dsn: str, plan: Path) -> tuple[float, float]:
    wall, peak, out = run_child([sys.executable, "-m", "migrator", "plan", str(plan), "--dsn", dsn])
    if "passes today" not in out:
        raise SystemExit(f"the check did not pass:\n{out}")
    return wall, peak


def old_child(dsn: str) -> int:
    """The way equals_query compared before: both result sets loaded into Python."""
    from collections import Counter

    rows = [tuple(r) for r in psycopg.connect(dsn).execute(f"select {COLUMNS} from docs")]
    other = [tuple(r) for r in psycopg.connect(dsn).execute(f"select {COLUMNS} from docs_copy")]

    def key(row: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(repr(v) if isinstance(v, dict | list) else v for v in row)  # was: a crash

    same = Counter(map(key, rows)) == Counter(map(key, other))
    print(f"old way: {len(rows)} rows against {len(other)}: {'same' if same else 'different'}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dsn", help="an admin DSN (default: an embedded PostgreSQL)")
    parser.add_argument("--old", action="store_true", help="also measure the old way")
    parser.add_argument("--old-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.old_child:
        return old_child(args.old_child)
    with tempfile.TemporaryDirectory() as tmp, server(args.dsn, Path(tmp)) as admin:
        plan = Path(tmp) / "parity.yaml"
        plan.write_text(PLAN)
        print(f"filling two tables of {args.rows:,} rows (jsonb, text[], numeric)...", flush=True)
        full = fresh_database(admin, "bench_equals_full", args.rows)
        empty = fresh_database(admin, "bench_equals_empty", 0)
        empty_wall, empty_peak = dry_run(empty, plan)
        full_wall, full_peak = dry_run(full, plan)
        ratio = full_peak / empty_peak
        print(f"{'run':<34} {'rows':>10} {'peak RSS':>10} {'wall':>8}")
        print(
            f"{'migrator plan, tables empty':<34} {0:>10,} {empty_peak:>7.1f} MB "
            f"{empty_wall:>6.1f} s"
        )
        print(
            f"{'migrator plan, tables full':<34} {args.rows:>10,} {full_peak:>7.1f} MB "
            f"{full_wall:>6.1f} s"
        )
        if args.old:
            old_wall, old_peak, _ = run_child([sys.executable, __file__, "--old-child", full])
            print(
                f"{'old way (rows fetched into Python)':<34} {args.rows:>10,} {old_peak:>7.1f} MB "
                f"{old_wall:>6.1f} s"
            )
        print(f"full / empty peak: {ratio:.2f} (limit {LIMIT:.2f})")
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in ("bench_equals_full", "bench_equals_empty"):
                conn.execute(f'drop database if exists "{name}" with (force)')
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
