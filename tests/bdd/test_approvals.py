"""Scenarios of features/approvals, run for real against PostgreSQL."""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
import sys
from typing import Any

from pytest_bdd import parsers, scenarios, when

scenarios("approvals")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@when(parsers.parse('I run "{command}" at a terminal and answer "{answer}"'))
def _(command: str, answer: str, world: dict[str, Any]) -> None:
    """The command in a terminal of its own (a pseudo-terminal: stdin, stdout and stderr),
    the answer typed ahead: the terminal keeps it until the question reads it."""
    words = shlex.split(command)
    assert words[0] == "migrator", f"commands start with migrator: {command}"
    terminal, its_end = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", *words[1:], "--dsn", world["dsn"]],
        cwd=world["dir"],
        stdin=its_end,
        stdout=its_end,
        stderr=its_end,
    )
    os.close(its_end)
    os.write(terminal, f"{answer}\n".encode())
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
    world["output"] = ANSI.sub("", seen.decode(errors="replace")).replace("\r\n", "\n")
