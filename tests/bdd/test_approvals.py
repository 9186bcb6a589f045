"""Scenarios of features/approvals, run for real against PostgreSQL."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from typing import Any

from pytest_bdd import parsers, scenarios, when

from tests.bdd.conftest import _argv

scenarios("approvals")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@when(parsers.parse('I run "{command}" at a terminal and answer "{answer}"'))
def _(command: str, answer: str, world: dict[str, Any]) -> None:
    """The command in a terminal of its own (a pseudo-terminal: stdin, stdout and stderr),
    the answer typed ahead: the terminal keeps it until the question reads it."""
    terminal, its_end = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", *_argv(command, world)],
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
