"""Scale benchmark: how long a large plan takes to validate.

Generates a phased plan of 200 transitions and 2,000 steps (a chain of 201 phases,
10 steps per transition: `sql` steps with their rollback and `flag` steps, with a
pre-check and a post-check on each transition, and variables bound as `:name` and
`${name}`), then measures:

1. load + lint in this process (`check_plan`, the plugins already loaded), best of N;
   and of it, the lint rules over every step alone (`lint_steps`, docs/lint.md);
2. `migrator validate PLAN` as a user runs it: a fresh process, wall time, best of N.

    python benchmarks/scale.py
    python benchmarks/scale.py --transitions 400 --steps 4000 --repeat 5

Target: under one second for both. No database is needed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 1.0


def generate_plan(transitions: int = 200, steps: int = 2000) -> str:
    """A valid phased plan text: `transitions` in a chain, `steps` spread evenly over them."""
    if transitions < 1 or steps < transitions:
        raise ValueError("need at least one transition and one step per transition")
    phases = [f"p{i:04d}" for i in range(transitions + 1)]
    lines = [
        f"plan: scale-{transitions}x{steps}",
        f"description: a generated plan of {transitions} transitions and {steps} steps",
        "vars: {batch: 500, version: v1.2.3, region: eu-west-1}",
        "phases: [" + ", ".join(phases) + "]",
        "transitions:",
    ]
    per, extra = divmod(steps, transitions)
    for t in range(transitions):
        count = per + (1 if t < extra else 0)
        lines += [
            f"  - name: move_{t:04d}",
            f"    from: {phases[t]}",
            f"    to: {phases[t + 1]}",
            f"    risk: {('low', 'medium', 'high')[t % 3]}",
            f"    description: transition {t} of the generated chain",
            "    pre_checks:",
            f"      - name: table t{t} is absent",
            f"        query: select count(*) from pg_tables where tablename = 't{t}'",
            "        expect: 0",
            "    steps:",
        ]
        for s in range(count):
            if s % 5 == 4:
                lines += [
                    f"      - name: flag {t}.{s}",
                    f"        flag: {{name: FLAG_{t}_{s}, value: '${{version}}'}}",
                ]
            else:
                lines += [
                    f"      - name: step {t}.{s}",
                    f"        sql: insert into log_{t % 7} (step, version) values ({s}, :version)",
                    "        lock_timeout: 2s",
                    "        rollback:",
                    f"          sql: delete from log_{t % 7} where step = {s}",
                ]
        lines += [
            "    post_checks:",
            f"      - name: rows of {t} are there",
            f"        query: select count(*) from log_{t % 7} where batch <= :batch",
            '        expect: ">= 0"',
        ]
    return "\n".join(lines) + "\n"


def best(seconds: list[float]) -> float:
    return min(seconds)


def measure_in_process(path: Path, repeat: int) -> tuple[list[float], int, int]:
    """Seconds of each `check_plan` call, and the errors and warnings of the last."""
    from migrator.plan import check_plan
    from migrator.plugin.manager import get_plugin_manager

    registry = get_plugin_manager().build_registry()
    check_plan(path, registry)  # warm: the plan models are built once per registry
    times = []
    problems: list[object] = []
    for _ in range(repeat):
        started = time.perf_counter()
        _, problems = check_plan(path, registry)
        times.append(time.perf_counter() - started)
    errors = sum(getattr(p, "severity", "") == "error" for p in problems)
    return times, errors, len(problems) - errors


def measure_lint(path: Path, repeat: int) -> list[float]:
    """Seconds of each `lint_steps` over the loaded plan: the rules of docs/lint.md alone."""
    from migrator.lint.runner import lint_steps
    from migrator.plan import load_plan
    from migrator.plugin.manager import get_plugin_manager

    registry = get_plugin_manager().build_registry()
    plan = load_plan(path, registry)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        lint_steps(plan, registry)
        times.append(time.perf_counter() - started)
    return times


def measure_cli(path: Path, repeat: int) -> tuple[list[float], int, str]:
    times = []
    code, out = 0, ""
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "migrator", "validate", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
        code, out = proc.returncode, (proc.stdout + proc.stderr).strip()
    return times, code, out


def measure_startup(repeat: int) -> list[float]:
    """A `migrator --version`: the fixed cost of any command, for reference."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "migrator", "--version"], capture_output=True, check=False
        )
        times.append(time.perf_counter() - started)
    return times


def profile(path: Path) -> None:
    from migrator.plan import check_plan
    from migrator.plugin.manager import get_plugin_manager

    registry = get_plugin_manager().build_registry()
    check_plan(path, registry)
    profiler = cProfile.Profile()
    profiler.enable()
    check_plan(path, registry)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one load + lint")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="migrator-scale-") as tmp:
        path = Path(tmp) / "scale.yaml"
        text = generate_plan(args.transitions, args.steps)
        path.write_text(text)
        size = len(text.encode())
        print(
            f"plan: {args.transitions} transitions, {args.steps} steps, "
            f"{text.count(chr(10)):,} lines, {size / 1024:.0f} KiB"
        )
        if args.profile:
            profile(path)
            return 0
        load, errors, warnings = measure_in_process(path, args.repeat)
        lint = measure_lint(path, args.repeat)
        cli, code, out = measure_cli(path, args.repeat)
        startup = measure_startup(args.repeat)
        print(f"{'measure':<44}{'best s':>8}{'worst s':>9}  target")
        rows = [
            ("load + lint (check_plan, in process)", load, f"< {TARGET_SECONDS:.0f} s"),
            ("  of it, lint rules (lint_steps)", lint, ""),
            ("`migrator validate PLAN` (wall, new process)", cli, f"< {TARGET_SECONDS:.0f} s"),
            ("`migrator --version` (startup, reference)", startup, ""),
        ]
        for label, times, target in rows:
            print(f"{label:<44}{best(times):>8.3f}{max(times):>9.3f}  {target}")
        print(f"validate: exit {code}, {errors} error(s), {warnings} warning(s)")
        if code != 0 or errors:
            print(out)
        ok = best(load) < TARGET_SECONDS and best(cli) < TARGET_SECONDS and code == 0
        print("within target" if ok else "ABOVE TARGET")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
