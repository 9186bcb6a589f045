"""Sending a running migrator SIGINT or SIGTERM, and reading what it left: shared by the
signal tests (tests/integration/test_signals*.py, tests/bdd/test_interrupts.py)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from typing import IO, Any

SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
"""Each signal with the exit code it ends a run with."""

FIRST_SIGNAL_HANDLED = "stopping at the next safe point"
"""What migrator says once it took in the first signal (a second must come after it: two
signals of one kind delivered before the handler runs count as one)."""


def wait_for_line(
    stream: IO[str] | None, text: str, seen: list[str], timeout: float = 20.0
) -> None:
    """Read `stream` (a pipe of a running process) until a line holds `text`; every byte
    read is kept in `seen`, the part after that line too.

    The pipe is read with `os.read` on its descriptor, never through the stream's buffer:
    a buffered `readline` takes every line the pipe holds at once, and `select` on the
    descriptor then waits for more while the line looked for sits read in the buffer."""
    assert stream is not None
    fd = stream.fileno()
    pending = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for number, line in enumerate(lines):
            seen.append(line.decode("utf-8", "replace") + "\n")
            if text in seen[-1]:
                rest = [b + b"\n" for b in lines[number + 1 :]] + [pending]
                seen.append(b"".join(rest).decode("utf-8", "replace"))
                return
    seen.append(pending.decode("utf-8", "replace"))
    raise AssertionError(f"no line with {text!r} came; seen: {''.join(seen)}")


def finish(proc: subprocess.Popen[str], seen: list[str]) -> tuple[int, str, str]:
    """Wait for the process to end: (exit code, stdout, all of stderr)."""
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, "".join(seen) + err


def run_status(sql: Any) -> list[tuple[object, ...]]:
    return sql("select id, status from migrator.runs order by id")


def interrupted_event(sql: Any) -> tuple[object, ...]:
    (row,) = sql(
        "select step, detail->>'from', detail->>'reason' from migrator.events "
        "where kind = 'state' and status = 'interrupted'"
    )
    return row
