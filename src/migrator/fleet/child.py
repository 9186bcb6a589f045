"""One `migrator` command for one target, as a process of its own.

A target is moved exactly as `migrator apply --dsn ...` would move it: the same command,
its own lock, its own audit trail, its own exit code. Its DSN goes in its environment
(`MIGRATOR_DSN`), never on its command line where `ps` would show it; it writes its
events as JSON lines (`--log-format json`) and its result as one JSON document
(`--output json`), which the fleet reads. It runs in a session of its own: a Ctrl-C at
the terminal reaches the fleet, which passes it on once to each command under way (so
each stops at its next safe point, as `migrator apply` does at one Ctrl-C).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from migrator.masking import Secrets

EventSink = Callable[[dict[str, Any]], None]
LineSink = Callable[[str], None]


@dataclass
class ChildResult:
    """What one command of one target ended with."""

    exit_code: int
    document: dict[str, Any] | None
    """Its `--output json` document, masked: to print or store (None: it printed none,
    killed or broken)."""
    lines: list[str] = field(default_factory=list)
    """What it said for a person (stderr lines that are not events), masked."""
    raw: dict[str, Any] | None = None
    """The same document as it came: read from this one (a secret equal to a key or a
    value, `phase`, would have masked it in the other), never printed or stored."""
    secrets: Secrets | None = None

    @property
    def run_ids(self) -> list[int]:
        """The runs it recorded in the target's `migrator.runs`, in order."""
        seen: list[int] = []
        for event in (self.raw or {}).get("events") or []:
            run = event.get("run_id")
            if isinstance(run, int) and run not in seen:
                seen.append(run)
        return seen

    @property
    def phase(self) -> str | None:
        value = (self.raw or {}).get("phase")
        return value if isinstance(value, str) else None

    @property
    def last_line(self) -> str:
        """Its last line for a person: the phase the plan ended in, or its error."""
        error = (self.raw or {}).get("error")
        if isinstance(error, str) and error:
            first = error.splitlines()[0]
            return self.secrets.mask(first) if self.secrets is not None else first
        return next((line for line in reversed(self.lines) if line.strip()), "").strip()


class Child:
    """`migrator COMMAND ARGS... --output json --log-format json` for one target."""

    def __init__(
        self,
        args: list[str],
        dsn: str,
        secrets: Secrets,
        *,
        on_event: EventSink | None = None,
        on_line: LineSink | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> None:
        self.args = args
        self.on_start = on_start
        self.dsn = dsn
        self.secrets = secrets
        self.on_event = on_event
        self.on_line = on_line
        self.process: subprocess.Popen[str] | None = None
        self._signalled = 0
        self._lock = threading.Lock()

    def run(self) -> ChildResult:
        """Start the command, follow it to its end; its result."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "MIGRATOR_DSN", "MIGRATOR_DSN_FILE")
        }
        env.update(MIGRATOR_DSN=self.dsn, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        command = [sys.executable, "-m", "migrator", *self.args]
        command += ["--output", "json", "--log-format", "json"]
        with self._lock:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="backslashreplace",
                env=env,
                start_new_session=True,
            )
            pending = self._signalled
        if self.on_start is not None:  # before it can have made a run: its pid on record
            self.on_start(self.process.pid)
        for number in range(1, pending + 1):  # a stop that came while it was starting
            self._send(_nth_signal(number))
        assert self.process.stdout is not None and self.process.stderr is not None
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(_read(self.process)), daemon=True)
        reader.start()
        lines = self._follow(self.process.stderr)
        code = self.process.wait()
        reader.join()
        raw = _document(out[0] if out else "")
        masked = None if raw is None else self.secrets.mask_data(raw)
        return ChildResult(code, masked, lines, raw=raw, secrets=self.secrets)

    def _follow(self, stream: IO[str]) -> list[str]:
        lines: list[str] = []
        for raw in stream:
            line = self.secrets.mask(raw.rstrip("\n"))
            event = _event(line)
            if event is not None:
                if self.on_event is not None:
                    self.on_event(event)
                continue
            lines.append(line)
            if self.on_line is not None:
                self.on_line(line)
        return lines

    def interrupt(self) -> None:
        """Pass a stop on: the first a SIGINT (the command stops at its next safe point,
        exit 130), the next a SIGTERM (a second signal of either kind stops it at once). Not
        the same signal twice: two SIGINTs sent before the command handled the first would
        merge into one pending signal, and the second stop would be lost."""
        with self._lock:
            self._signalled += 1
            if self.process is not None:
                self._send(_nth_signal(self._signalled))

    def _send(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signum)


def _nth_signal(number: int) -> int:
    """The signal of the `number`th stop passed on: SIGINT first, then SIGTERM, SIGINT..."""
    return signal.SIGINT if number % 2 == 1 else signal.SIGTERM


def _read(process: subprocess.Popen[str] | None) -> str:
    assert process is not None and process.stdout is not None
    return process.stdout.read()


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "kind" in value else None


def _document(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
