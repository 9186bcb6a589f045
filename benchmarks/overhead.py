"""Per-step overhead benchmark: what migrator adds to each step and check it runs.

One plan of trivial operations (1,000 by default): transitions of `sql` steps that
insert one row each and `query` checks that read one value, run by `migrator apply` in
one process, beside the very same statements sent by one `psql -f FILE` process (each
its own transaction, as each step is). The difference, divided by the number of steps
and checks, is migrator's overhead per operation: for a step, its audit events (started,
and done in the same transaction as the step), its lock check, its timeouts; for a
check, its event. Process start-up is measured apart (`migrator --version`) and shown.

    python benchmarks/overhead.py
    python benchmarks/overhead.py --operations 2000 --repeat 5
    python benchmarks/overhead.py --profile      # where the time goes (cProfile, in process)

Without --dsn it starts an embedded PostgreSQL in a temporary folder.
Target: under 5 ms per operation.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from embedded import server  # benchmarks/embedded.py, beside this script

TARGET_MS = 5.0
PSQL = shutil.which("psql") or "/usr/bin/psql"
MIGRATOR = [sys.executable, "-m", "migrator"]


@dataclass(frozen=True)
class Shape:
    transitions: int
    steps: int  # per transition
    checks: int  # per transition: half pre-checks, half post-checks

    @property
    def operations(self) -> int:
        return self.transitions * (self.steps + self.checks)

    @property
    def last_phase(self) -> str:
        return f"p{self.transitions}"


def shape_for(operations: int, transitions: int) -> Shape:
    """`operations` split over `transitions`: nine steps to one check (at least two checks)."""
    per = max(operations // transitions, 3)
    checks = max(2, round(per / 10) // 2 * 2)
    return Shape(transitions, per - checks, checks)


def step_sql(t: int, s: int) -> str:
    return f"insert into bench (t, s) values ({t}, {s})"


def check_sql(t: int) -> str:
    return f"select count(*) from bench where t = {t}"


def plan_text(shape: Shape) -> str:
    phases = ", ".join(f"p{i}" for i in range(shape.transitions + 1))
    lines = ["plan: overhead", f"phases: [{phases}]", "transitions:"]
    half = shape.checks // 2
    for t in range(shape.transitions):
        lines += [f"  - name: t{t}", f"    from: p{t}", f"    to: p{t + 1}", "    pre_checks:"]
        lines += [f"      - {{query: '{check_sql(t)}', expect: 0}}" for _ in range(half)]
        lines.append("    steps:")
        for s in range(shape.steps):
            lines.append(f"      - {{name: s{s}, sql: '{step_sql(t, s)}', rollback: irreversible}}")
        lines.append("    post_checks:")
        lines += [
            f"      - {{query: '{check_sql(t)}', expect: {shape.steps}}}"
            for _ in range(shape.checks - half)
        ]
    return "\n".join(lines) + "\n"


def psql_script(shape: Shape) -> str:
    """The statements the plan runs, in the order it runs them."""
    half = shape.checks // 2
    out = []
    for t in range(shape.transitions):
        out += [check_sql(t) + ";"] * half
        out += [step_sql(t, s) + ";" for s in range(shape.steps)]
        out += [check_sql(t) + ";"] * (shape.checks - half)
    return "\n".join(out) + "\n"


SCHEMA = "create table bench (t int not null, s int not null)"


def fresh_database(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    return dsn


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds of the command, and the CPU seconds (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} {' '.join(argv[1:3])} failed:\n{proc.stdout}{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


@dataclass(frozen=True)
class Measure:
    wall: float  # seconds
    cpu: float  # seconds of CPU (user + system) of the process
    flushes: int  # WAL flushes to disk (fsync) on the server meanwhile


@dataclass(frozen=True)
class Run:
    migrator: Measure
    psql: Measure


def wal_flushes(admin: str) -> int:
    """WAL syncs of the whole server so far (pg_stat_wal; nothing else runs on it)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("select pg_stat_force_next_flush()")
        row = conn.execute("select wal_sync from pg_stat_wal").fetchone()
    return int(row[0]) if row else 0


def measured(admin: str, argv: list[str], env: dict[str, str] | None = None) -> Measure:
    before = wal_flushes(admin)
    wall, cpu = timed(argv, env)
    time.sleep(0.2)  # the exited backends' statistics reach pg_stat_wal
    return Measure(wall, cpu, wal_flushes(admin) - before)


def rows_in(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select count(*) from bench").fetchone()
    return int(row[0]) if row else -1


def profile_apply(dsn: str, plan: Path, last: str, top: int) -> None:
    from migrator.cli import main as migrator_main

    profiler = cProfile.Profile()
    out = io.StringIO()
    stdout = sys.stdout
    sys.stdout = out
    try:
        profiler.enable()
        code = migrator_main(["apply", str(plan), "--to", last, "--dsn", dsn])
        profiler.disable()
    finally:
        sys.stdout = stdout
    print(f"apply exited {code}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1000, help="steps + checks")
    parser.add_argument("--transitions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn", help="a PostgreSQL server to use (default: embedded)")
    parser.add_argument("--profile", action="store_true", help="cProfile one apply in process")
    parser.add_argument("--top", type=int, default=30, help="lines of profile to show")
    args = parser.parse_args()

    shape = shape_for(args.operations, args.transitions)
    workdir = Path(tempfile.mkdtemp(prefix="migrator-overhead-"))
    try:
        plan = workdir / "overhead.yaml"
        plan.write_text(plan_text(shape))
        script = workdir / "overhead.sql"
        script.write_text(psql_script(shape))
        with server(args.dsn, workdir) as admin:
            if args.profile:
                dsn = fresh_database(admin, "overhead_profile")
                profile_apply(dsn, plan, shape.last_phase, args.top)
                return 0
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            startup = [timed([*MIGRATOR, "--version"], env)[0] for _ in range(args.repeat)]
            runs: list[Run] = []
            for i in range(args.repeat):
                mig_dsn = fresh_database(admin, f"overhead_migrator_{i}")
                mig = measured(
                    admin,
                    [*MIGRATOR, "apply", str(plan), "--to", shape.last_phase, "--dsn", mig_dsn],
                    env,
                )
                psql_dsn = fresh_database(admin, f"overhead_psql_{i}")
                ref = measured(
                    admin,
                    [PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psql_dsn, "-f", str(script)],
                )
                expected = shape.transitions * shape.steps
                if rows_in(mig_dsn) != expected or rows_in(psql_dsn) != expected:
                    raise SystemExit("the two runs did not insert the same rows")
                runs.append(Run(mig, ref))
        n = shape.operations
        print(
            f"plan: {shape.transitions} transitions x ({shape.steps} steps + "
            f"{shape.checks} checks) = {n:,} operations"
        )
        print(
            f"{'run':>4}{'migrator s':>12}{'psql s':>9}{'overhead ms/op':>16}"
            f"{'migrator CPU s':>16}{'WAL flushes/op':>16}"
        )
        per_op = []
        for i, run in enumerate(runs, 1):
            per_op.append((run.migrator.wall - run.psql.wall) / n * 1000)
            flushes = f"{run.migrator.flushes / n:.2f} vs {run.psql.flushes / n:.2f}"
            print(
                f"{i:>4}{run.migrator.wall:>12.2f}{run.psql.wall:>9.2f}{per_op[-1]:>16.2f}"
                f"{run.migrator.cpu:>16.2f}{flushes:>16}"
            )
        best = min(per_op)
        fixed = min(startup)
        print(f"process start-up (`migrator --version`): {fixed:.2f} s, in the numbers above")
        print(
            f"overhead per step or check: best {best:.2f} ms, median "
            f"{sorted(per_op)[len(per_op) // 2]:.2f} ms (target < {TARGET_MS:.0f} ms); "
            f"without start-up: {best - fixed / n * 1000:.2f} ms"
        )
        return 0 if best < TARGET_MS else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
