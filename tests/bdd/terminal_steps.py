"""Steps that run a command at a terminal of its own (a pseudo-terminal for its stdin,
stdout and stderr, of a given width), for the scenarios about what a person at a
terminal sees and answers: approvals (tests/bdd/test_approvals.py), the progress
display (tests/bdd/test_backfill.py)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shlex
import struct
import subprocess
import sys
import termios
from typing import Any

from pytest_bdd import parsers, when

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def at_a_terminal(command: str, world: dict[str, Any], typed: str = "", columns: int = 80) -> None:
    """Run `command` (with the scenario's database) at a terminal `columns` wide, `typed`
    typed ahead (the terminal keeps it until a question reads it). Its output as the
    terminal received it, control sequences included, goes to world["terminal"]; without
    them, its lines (a carriage return starts a line too) to world["output"]."""
    words = shlex.split(command)
    assert words[0] == "migrator", f"commands start with migrator: {command}"
    terminal, its_end = pty.openpty()
    fcntl.ioctl(its_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", *words[1:], "--dsn", world["dsn"]],
        cwd=world["dir"],
        stdin=its_end,
        stdout=its_end,
        stderr=its_end,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(its_end)
    if typed:
        os.write(terminal, typed.encode())
    seen = bytearray()
    try:
        while chunk := os.read(terminal, 65536):
            seen += chunk
    except OSError:  # the command ended: its side of the terminal is closed
        pass
    finally:
        os.close(terminal)
    proc.wait(timeout=120)
    world["code"] = proc.returncode
    world["terminal"] = seen.decode(errors="replace")
    world["output"] = "\n".join(re.split(r"\r\n|\r|\n", ANSI.sub("", world["terminal"])))


@when(parsers.parse('I run "{command}" at a terminal and answer "{answer}"'))
def _(command: str, answer: str, world: dict[str, Any]) -> None:
    at_a_terminal(command, world, typed=f"{answer}\n")


@when(parsers.parse('I run "{command}" at a terminal {columns:d} columns wide'))
def _(command: str, columns: int, world: dict[str, Any]) -> None:
    at_a_terminal(command, world, columns=columns)
