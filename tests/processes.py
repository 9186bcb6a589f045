"""A real migrator process, the moment to interrupt it, and what a killed run left behind.

Shared by the tests that kill runs, terminate their connections or restart their server
(tests/integration/test_interruptions.py, tests/plugins/test_backfill.py, tests/faults/).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def spawn(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The migrator CLI as a real process, as an operator would start it (`env`: more
    environment variables)."""
    return subprocess.Popen(
        [sys.executable, "-m", "migrator", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def wait_for(
    condition: Callable[[], bool],
    timeout: float = 20.0,
    proc: subprocess.Popen[str] | None = None,
) -> None:
    """Poll `condition` until it holds; fail at `timeout`, or at once if `proc` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(
                f"the process ended (exit {proc.returncode}) before the moment came:\n{out}{err}"
            )
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def sigkill(proc: subprocess.Popen[str]) -> int:
    """Kill the process with SIGKILL (no clean-up of any kind), reap it; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()
    return proc.returncode


def step_started(sql: Any, step: str) -> Callable[[], bool]:
    """Whether a step event `started` of `step` is recorded (any run)."""

    def check() -> bool:
        if sql("select to_regclass('migrator.events')") == [(None,)]:
            return False
        rows = sql(
            "select 1 from migrator.events where kind = 'step' and status = 'started' "
            "and step = %s",
            step,
        )
        return bool(rows)

    return check


def checkpoint(sql: Any) -> tuple[int, int]:
    """(rows, batches) of the backfill checkpoint; (0, 0) before the first batch."""
    rows = sql("select rows_done, batches_done from migrator.checkpoints")
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


def has_checkpoint(sql: Any, at_least: int) -> Callable[[], bool]:
    """Whether the backfill has committed at least `at_least` batches."""

    def check() -> bool:
        if sql("select to_regclass('migrator.checkpoints')") == [(None,)]:
            return False
        return checkpoint(sql)[1] >= at_least

    return check
