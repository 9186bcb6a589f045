"""Scenarios of features/interrupts: real `migrator apply` processes held at a gate (a row
the run writes waits on a lock the test holds) and sent SIGINT or SIGTERM there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, when

from tests.faults.gates import Gate
from tests.processes import sigkill, wait_for
from tests.signals import FIRST_SIGNAL_HANDLED, wait_for_line

scenarios("interrupts")

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


def _stopped(world: dict[str, Any], command: str, names: list[str], **match: Any) -> None:
    """Run `command` until the gate at the row `match` holds it; send the signals `names`
    (each after the one before was taken in); open the gate; record how it ended."""
    table = match.pop("table", "events")
    gate = Gate(world["dsn"])
    seen: list[str] = []
    try:
        gate.at_row(table, **match)
        words = command.split()
        assert words[0] == "migrator"
        proc = subprocess.Popen(
            [sys.executable, "-m", "migrator", *words[1:], "--dsn", world["dsn"]],
            cwd=world["dir"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: gate.reached_row() is not None, proc=proc)
            for n, name in enumerate(names):
                os.kill(proc.pid, SIGNALS[name])
                if n == 0:
                    wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
            if len(names) == 1:
                gate.open()  # the work in flight goes on, to the next safe point
            out, err = proc.communicate(timeout=60)
        finally:
            sigkill(proc)
    finally:
        gate.close()
    world["code"] = proc.returncode
    world["stdout"], world["stderr"] = out, "".join(seen) + err
    world["output"] = world["stdout"] + world["stderr"]


@given(parsers.parse('"{command}" got {name:w} while step "{step}" committed'))
@when(parsers.parse('"{command}" gets {name:w} while step "{step}" commits'))
def _(command: str, name: str, step: str, world: dict[str, Any]) -> None:
    _stopped(world, command, [name], kind="step", status="done", step=step)


@when(parsers.parse('"{command}" gets {name:w} twice while step "{step}" commits'))
def _(command: str, name: str, step: str, world: dict[str, Any]) -> None:
    _stopped(world, command, [name, name], kind="step", status="done", step=step)


@when(parsers.parse('"{command}" gets {name:w} during batch {batch:d} of its backfill'))
def _(command: str, name: str, batch: int, world: dict[str, Any]) -> None:
    _stopped(world, command, [name], table="checkpoints", batches_done=batch)


@given(parsers.parse('the environment variable "{name}" is not set'))
def _(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(name, raising=False)


@given(parsers.parse('the plan "{file}" has a transition "{name}" from "{source}" to "{target}"'))
def _(file: str, name: str, source: str, target: str, world: dict[str, Any]) -> None:
    path: Path = world["dir"] / file
    text = path.read_text().replace("phases: [before, after]", f"phases: [before, after, {target}]")
    path.write_text(
        text + f"  - {{name: {name}, from: {source}, to: {target}, steps: [{{sql: select 1}}]}}\n"
    )
