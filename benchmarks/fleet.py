"""Fleet benchmark: a 5-step plan moved on 50 databases by `migrator fleet apply`, with
`parallel` 1, 4 and 8, beside the same statements sent directly.

Each target is a fresh database of one PostgreSQL server. The plan has one transition of
five small `sql` steps (a table, 200 rows, an index, an update, a column). For each
`parallel` the fleet's databases are made afresh and one real `migrator fleet apply FLEET
PLAN --to after --output json` moves them all (a `migrator apply` process per target, as
in production); every target is then checked to be in the phase.

The reference is the work without migrator: the same five statements, each in its own
transaction as each step is, sent with psycopg to each of the databases one after another
(one connection per database). Printed side by side, for each `parallel`:

- wall s: the whole `fleet apply`, from start to exit;
- targets/s: targets moved per second of wall time;
- per target s: the mean time of one target in the ledger (its `migrator apply`, start to
  end, read first included): what one target costs, whatever runs beside it;
- overhead s: per target, minus the reference's time per database;
- ratio: the wall time over the reference's whole sequential time.

`migrator --version`, one process's start-up, is measured apart and shown: most of a
target's overhead is its own Python process (start-up, imports, plugins).

    python benchmarks/fleet.py
    python benchmarks/fleet.py --targets 20 --parallel 1,2,4
    python benchmarks/fleet.py --dry          # the databases and the reference only

Without --dsn it starts an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from embedded import server  # benchmarks/embedded.py, beside this script

MIGRATOR = [sys.executable, "-m", "migrator"]
STEPS = [
    ("table", "create table bench (id int primary key, v text not null)"),
    ("rows", "insert into bench select g, 'v' || g from generate_series(1, 200) g"),
    ("index", "create index bench_v on bench (v)"),
    ("update", "update bench set v = upper(v) where id % 2 = 0"),
    ("column", "alter table bench add column w int not null default 0"),
]
PREFIX = "fleet_bench"


def plan_text() -> str:
    lines = [
        "plan: fleet_bench",
        "phases: [before, after]",
        "transitions:",
        "  - name: go",
        "    from: before",
        "    to: after",
        "    steps:",
    ]
    for name, sql in STEPS:
        lines.append(f'      - {{name: {name}, sql: "{sql}", rollback: irreversible}}')
    return "\n".join(lines) + "\n"


def env_name(index: int) -> str:
    return f"FLEET_BENCH_DSN_{index}"


def fleet_text(targets: int, parallel: int) -> str:
    """The fleet file: each target's DSN read from the environment, one wave."""
    lines = ["fleet: bench", "targets:"]
    for i in range(targets):
        lines.append(f'  - {{name: t{i:03d}, dsn: "${{env:{env_name(i)}}}"}}')
    lines += ["waves:", f"  - {{name: all, parallel: {parallel}}}"]
    return "\n".join(lines) + "\n"


def database_dsn(admin: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(admin, dbname=name)


def fresh_databases(admin: str, label: str, count: int) -> list[str]:
    """`count` new empty databases; their DSNs."""
    dsns = []
    with psycopg.connect(admin, autocommit=True) as conn:
        for i in range(count):
            name = f"{PREFIX}_{label}_{i}"
            conn.execute(f'drop database if exists "{name}" with (force)')
            conn.execute(f'create database "{name}"')
            dsns.append(database_dsn(admin, name))
    return dsns


def drop_databases(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname like %s", (PREFIX + "\\_%",)
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'drop database if exists "{name}" with (force)')


def reference(dsns: list[str]) -> float:
    """Seconds to run the plan's statements directly on every database, one after another
    (each statement its own transaction, one connection per database)."""
    started = time.perf_counter()
    for dsn in dsns:
        with psycopg.connect(dsn) as conn:
            for _, sql in STEPS:
                conn.execute(sql)  # type: ignore[arg-type]
                conn.commit()
    return time.perf_counter() - started


def check_moved(dsns: list[str], *, by_migrator: bool) -> None:
    """Every database holds the plan's work (and, moved by migrator, is in phase after)."""
    for dsn in dsns:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("select count(*), sum(w) from bench").fetchone()
            if row != (200, 0):
                raise SystemExit(f"a database does not hold the plan's work: {row}")
            if by_migrator:
                phase = conn.execute(
                    "select phase from migrator.plan_state where plan = 'fleet_bench'"
                ).fetchone()
                if phase != ("after",):
                    raise SystemExit(f"a target is not in phase after: {phase}")


@dataclass(frozen=True)
class Row:
    parallel: int
    wall: float
    per_target: float  # mean seconds of one target, from the ledger


def per_target_seconds(ledger: Path) -> float:
    """The mean time from start to end of the rollout's targets, as its ledger says."""
    document = json.loads(ledger.read_text(encoding="utf-8"))
    rollout = document["rollouts"][-1]
    spans = []
    for record in rollout["targets"].values():
        if record["state"] != "moved":
            raise SystemExit(f"a target ended {record['state']}: {record['message']}")
        started = datetime.fromisoformat(record["started_at"])
        ended = datetime.fromisoformat(record["ended_at"])
        spans.append((ended - started).total_seconds())
    return statistics.fmean(spans)


def fleet_apply(workdir: Path, plan: Path, dsns: list[str], parallel: int) -> Row:
    folder = workdir / f"parallel-{parallel}"
    folder.mkdir()
    fleet = folder / "fleet.yaml"
    fleet.write_text(fleet_text(len(dsns), parallel), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.update({env_name(i): dsn for i, dsn in enumerate(dsns)})
    argv = [*MIGRATOR, "fleet", "apply", str(fleet), str(plan), "--to", "after"]
    argv += ["--output", "json"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"fleet apply with parallel {parallel} exited {done.returncode}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    check_moved(dsns, by_migrator=True)
    return Row(parallel, wall, per_target_seconds(fleet.with_name("fleet.yaml.ledger.json")))


def startup_seconds() -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([*MIGRATOR, "--version"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def table(targets: int, ref: float, rows: list[Row]) -> list[str]:
    per_ref = ref / targets
    out = [
        f"{'parallel':>8}{'wall s':>9}{'targets/s':>11}{'per target s':>14}"
        f"{'overhead s':>12}{'ratio':>8}",
        f"{'ref':>8}{ref:>9.2f}{targets / ref:>11.1f}{per_ref:>14.3f}{'':>12}{1:>8.1f}",
    ]
    for row in rows:
        out.append(
            f"{row.parallel:>8}{row.wall:>9.2f}{targets / row.wall:>11.1f}"
            f"{row.per_target:>14.3f}{row.per_target - per_ref:>12.3f}{row.wall / ref:>8.1f}"
        )
    return out


def parallels(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a list of numbers from 1, as 1,4,8")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=50, help="databases in the fleet")
    parser.add_argument("--parallel", type=parallels, default=[1, 4, 8], help="as 1,4,8")
    parser.add_argument("--dsn", help="a PostgreSQL server to use (default: embedded)")
    parser.add_argument("--dry", action="store_true", help="only the databases and the reference")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="migrator-fleet-"))
    try:
        plan = workdir / "fleet_bench.yaml"
        plan.write_text(plan_text(), encoding="utf-8")
        with server(args.dsn, workdir) as admin:
            try:
                ref_dsns = fresh_databases(admin, "ref", args.targets)
                ref = reference(ref_dsns)
                check_moved(ref_dsns, by_migrator=False)
                rows = []
                if not args.dry:
                    for parallel in args.parallel:
                        dsns = fresh_databases(admin, f"p{parallel}", args.targets)
                        rows.append(fleet_apply(workdir, plan, dsns, parallel))
            finally:
                drop_databases(admin)
        print(
            f"{args.targets} targets (databases of one server), a plan of {len(STEPS)} sql "
            "steps; ref: the same statements with psycopg, one database after another"
        )
        for line in table(args.targets, ref, rows):
            print(line)
        if args.dry:
            print("--dry: the reference only, no fleet apply")
        else:
            print(f"process start-up (`migrator --version`): {startup_seconds():.2f} s")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
