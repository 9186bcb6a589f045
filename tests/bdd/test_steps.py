"""Scenarios of features/steps, run for real against PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.helpers import has_retry
from tests.processes import sigkill, wait_for

scenarios("steps")


@given(parsers.parse('another session holds a lock on "{table}" until the step is tried again'))
def _(table: str, world: dict[str, Any], lock_holders: list[threading.Event]) -> None:
    held, release = threading.Event(), threading.Event()
    lock_holders.append(release)

    def hold() -> None:
        with psycopg.connect(world["dsn"]) as conn:
            conn.execute(f"lock table {table} in access exclusive mode")  # type: ignore[arg-type]
            held.set()
            wait_for(lambda: release.is_set() or has_retry(world["dsn"]), 60)  # tried again
            conn.rollback()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)


def _flags(flags: dict[str, Any]) -> str:
    """Flags as a person reads them: NAME=JSON value, by name."""
    return ", ".join(f"{n}={json.dumps(v, sort_keys=True)}" for n, v in sorted(flags.items()))


@then(parsers.parse('the flags are "{flags}"'))
def _(flags: str, world: dict[str, Any]) -> None:
    with psycopg.connect(world["dsn"], autocommit=True) as conn:
        rows = conn.execute("select name, value from migrator.flags").fetchall()
    assert _flags(dict(rows)) == flags  # type: ignore[arg-type]


@given(parsers.parse('the file "{name}":'))
def _(name: str, docstring: str, world: dict[str, Any]) -> None:
    (world["dir"] / name).parent.mkdir(parents=True, exist_ok=True)
    (world["dir"] / name).write_text(docstring + "\n")
    world.setdefault("files", {})[name] = docstring + "\n"


@then(parsers.parse('the file "{name}" holds the flags "{flags}"'))
def _(name: str, flags: str, world: dict[str, Any]) -> None:
    assert _flags(json.loads((world["dir"] / name).read_text())) == flags


@then(parsers.parse('the file "{name}" holds the flags it held before'))
def _(name: str, world: dict[str, Any]) -> None:
    now = json.loads((world["dir"] / name).read_text())
    assert now == json.loads(world["files"][name])


def _policies(dsn: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "select policyname, permissive, roles::text[], cmd, qual, with_check "
            "from pg_policies where tablename = %s order by policyname",
            (table,),
        ).fetchall()


@given(parsers.parse('I note how the policies on "{table}" read'))
def _(table: str, world: dict[str, Any]) -> None:
    world["policies"] = _policies(world["dsn"], table)
    assert world["policies"], f"no policy on {table} to note"


@then(parsers.parse('the policies on "{table}" read exactly as noted'))
def _(table: str, world: dict[str, Any]) -> None:
    assert _policies(world["dsn"], table) == world["policies"]


@then(parsers.parse('the audit trail keeps the output of "{step}" as "{text}"'))
def _(step: str, text: str, world: dict[str, Any]) -> None:
    history = json.loads(world["stdout"])
    done = [
        event["detail"]["memo"]
        for run in history["runs"]
        for event in run["events"]
        if event["step"] == step and event["kind"] == "step" and event["status"] == "done"
    ]
    assert len(done) == 1, history
    assert done[0]["exit_code"] == 0
    assert done[0]["stdout"] == text + "\n", done[0]


def _listing(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under `folder` (itself included): size, mtime and inode, symlinks as such."""
    entries = [folder, *sorted(folder.rglob("*"))]
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns, p.lstat().st_ino) for p in entries}


@given(parsers.parse('the folder "{name}" is read-only'))
def _(name: str, world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    folder = world["dir"] / name
    for path in folder.rglob("*"):
        path.chmod(0o444)
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    # root writes through any mode: what proves nothing was written is the listing below
    world.setdefault("listings", {})[name] = _listing(folder)


@then(parsers.parse('nothing in the folder "{name}" was created or changed'))
def _(name: str, world: dict[str, Any]) -> None:
    assert _listing(world["dir"] / name) == world["listings"][name]


@given(parsers.parse('the file "{name}" belongs to user {uid:d} and has mode {mode}'))
def _(name: str, uid: int, mode: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    path.chmod(int(mode, 8))
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(path, uid, uid)
    world.setdefault("owners", {})[name] = (path.stat().st_uid, path.stat().st_gid)


@given(parsers.parse('"{link}" is a symlink to "{target}"'))
def _(link: str, target: str, world: dict[str, Any]) -> None:
    (world["dir"] / link).parent.mkdir(parents=True, exist_ok=True)
    (world["dir"] / link).symlink_to(target)


@then(parsers.parse('"{link}" is still a symlink to "{target}"'))
def _(link: str, target: str, world: dict[str, Any]) -> None:
    assert os.readlink(world["dir"] / link) == target


@then(parsers.parse('the file "{name}" still belongs to its owner and has mode {mode}'))
def _(name: str, mode: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    assert (path.stat().st_uid, path.stat().st_gid) == world["owners"][name]
    assert path.stat().st_mode & 0o7777 == int(mode, 8)


def _started(dsn: str, step: str) -> int:
    """How many times step `step` has started (in any run)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("select to_regclass('migrator.events')").fetchone() == (None,):
            return 0
        row = conn.execute(
            "select count(*) from migrator.events where kind = 'step' and status = 'started' "
            "and step = %s",
            (step,),
        ).fetchone()
    return int(row[0]) if row else 0


@when(parsers.parse('"{command}" gets {name:w} while step "{step}" waits'))
def _(command: str, name: str, step: str, world: dict[str, Any]) -> None:
    """Run `command` until the wait step `step` starts (once more than before), then send
    the signal `name` once, and record how the command ended."""
    words = command.split()
    assert words[0] == "migrator"
    before = _started(world["dsn"], step)
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", *words[1:], "--dsn", world["dsn"]],
        cwd=world["dir"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for(lambda: _started(world["dsn"], step) > before, proc=proc)
        os.kill(proc.pid, {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}[name])
        out, err = proc.communicate(timeout=60)  # an hour's wait ends at the signal
    finally:
        sigkill(proc)
    world["code"] = proc.returncode
    world["stdout"], world["stderr"] = out, err
    world["output"] = out + err
