"""Shared steps: plans, SQL, commands as a person types them, and what they see."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from migrator.cli import main
from migrator.db.target import application_name
from tests.backfills import assert_exact, held_between_looks
from tests.helpers import forge_chain, query
from tests.processes import wait_for


@pytest.fixture
def lock_holders() -> Iterator[list[threading.Event]]:
    """The releases of the sessions a scenario holds a lock with: all set at its end."""
    releases: list[threading.Event] = []
    yield releases
    for release in releases:
        release.set()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str) -> dict[str, Any]:
    """What a scenario has done so far; commands run in its own directory."""
    monkeypatch.chdir(tmp_path)
    for name in ("MIGRATOR_DSN", "DATABASE_URL", "MIGRATOR_SQUAWK"):
        monkeypatch.delenv(name, raising=False)
    state: dict[str, Any] = {"dir": tmp_path, "dsn": database, "others": {}}
    yield state  # type: ignore[misc]
    for proc in state["others"].values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _argv(command: str, world: dict[str, Any]) -> list[str]:
    """The command's arguments, with the scenario's database unless it names its own (or none)."""
    words = shlex.split(command)
    assert words[0] == "migrator", f"commands start with migrator: {command}"
    argv = words[1:]
    no_database = argv[0] in ("validate", "schema", "plugins", "docs") or world.get("no_database")
    if not no_database and "--dsn" not in argv:
        argv += ["--dsn", world["dsn"]]
    return argv


def _run(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(_argv(command, world))
    captured = capsys.readouterr()
    world["code"], world["output"] = code, captured.out + captured.err
    world["stdout"], world["stderr"] = captured.out, captured.err


def _spawn(command: str, world: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "migrator", *_argv(command, world)],
        cwd=world["dir"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(dsn: str, sql: str) -> None:
    """Until schema migrator exists and `sql` returns a row."""

    def holds() -> bool:
        exists = query(dsn, "select to_regclass('migrator.events') is not null")[0][0]
        return bool(exists and query(dsn, sql))

    wait_for(holds)


@given(parsers.parse('the plan "{name}":'))
def _(name: str, docstring: str, world: dict[str, Any]) -> None:
    (world["dir"] / name).write_text(docstring + "\n")


@given("the SQL:")
def _(docstring: str, world: dict[str, Any]) -> None:
    query(world["dsn"], docstring)


@given("the audit trail's hashes are computed again, as a forger would")
def _(world: dict[str, Any]) -> None:
    forge_chain(lambda sql, *params: query(world["dsn"], sql, *params))


@given(parsers.parse('the plan "{name}" has the rollback of "{step}" replaced by "{sql}"'))
def _(name: str, step: str, sql: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    text = path.read_text()
    old = f"rollback: {{sql: \"insert into undone values ('{step}')\"}}"
    assert old in text
    path.write_text(text.replace(old, f'rollback: {{sql: "{sql}"}}'))


@given(parsers.parse('I ran "{command}"'))
def _(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _run(command, world, capsys)
    assert world["code"] == 0, world["output"]


@given(parsers.parse('I ran "{command}" and it exited {code:d}'))
def _(command: str, code: int, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _run(command, world, capsys)
    assert world["code"] == code, world["output"]


@given(parsers.parse('"{operator}" is running "{command}" in another terminal'))
def _(operator: str, command: str, world: dict[str, Any]) -> None:
    world["others"][operator] = _spawn(f"{command} --operator {operator}", world)
    _wait_for(world["dsn"], "select 1 from migrator.runs where status = 'applying'")


@given(parsers.parse("{operator}'s process is frozen"))
def _(operator: str, world: dict[str, Any]) -> None:
    """SIGSTOP: the process neither works nor dies; its sessions stay open. The scenario's
    end kills it (SIGKILL ends a stopped process too)."""
    os.kill(world["others"][operator].pid, signal.SIGSTOP)


@given(parsers.parse("the server ends every session of {operator}'s process"))
def _(operator: str, world: dict[str, Any]) -> None:
    """As an administrator would, or a network cut: the process is told nothing until it
    next speaks to the server."""
    name = application_name(world["others"][operator].pid)
    ended = query(
        world["dsn"],
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity "
        "where pid <> pg_backend_pid() and application_name = %s",
        name,
    )
    assert ended and all(gone for (gone,) in ended), ended


@when(parsers.parse("{operator}'s process wakes up"))
def _(operator: str, world: dict[str, Any]) -> None:
    """SIGCONT, then the process's exit code and output, as the scenario's."""
    proc = world["others"][operator]
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=60)
    world["code"], world["output"] = proc.returncode, out + err
    world["stdout"], world["stderr"] = out, err


@given(parsers.parse('"{command}" was killed during step "{step}"'))
def _(command: str, step: str, world: dict[str, Any]) -> None:
    proc = _spawn(command, world)
    try:
        _wait_for(
            world["dsn"],
            f"select 1 from migrator.events where kind = 'step' and status = 'started' "
            f"and step = '{step}'",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


@when(parsers.parse('I run "{command}"'))
def _(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _run(command, world, capsys)


@when(parsers.parse('I run "{command}" on the scenario\'s database'))
def _(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _run(f"{command} --dsn {shlex.quote(world['dsn'])}", world, capsys)


@then(parsers.parse("the exit code is {code:d}"))
def _(code: int, world: dict[str, Any]) -> None:
    assert world["code"] == code, world["output"]


@then(parsers.parse('the output contains "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    assert text in world["output"], world["output"]


@then(parsers.parse('the output does not contain "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    assert text not in world["output"], world["output"]


@then(parsers.parse('the output is a JSON document whose "{key}" is "{value}"'))
def _(key: str, value: str, world: dict[str, Any]) -> None:
    document = json.loads(world["stdout"])
    for part in key.split("."):
        document = document[int(part)] if isinstance(document, list) else document[part]
    assert str(document) == value, document


@given(parsers.parse('the environment variable "{name}" is "{value}"'))
def _(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)


@then(parsers.parse('the plan "{plan}" is in phase "{phase}"'))
def _(plan: str, phase: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    path = next(p for p in world["dir"].glob("*.yaml") if f"plan: {plan}\n" in p.read_text())
    capsys.readouterr()
    assert main(["status", str(path), "--dsn", world["dsn"], "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["phase"] == phase


@then(parsers.parse('the runs of plan "{plan}" are "{runs}"'))
def _(plan: str, runs: str, world: dict[str, Any]) -> None:
    rows = query(
        world["dsn"],
        f"select transition || ' ' || status from migrator.runs where plan = '{plan}' order by id",
    )
    assert ", ".join(r[0] for r in rows) == runs


@then(parsers.parse('the audit trail of plan "{plan}" shows the undo of "{steps}"'))
def _(plan: str, steps: str, world: dict[str, Any]) -> None:
    rows = query(
        world["dsn"],
        "select e.step from migrator.events e join migrator.runs r on r.id = e.run_id "
        f"where r.plan = '{plan}' and e.kind = 'undo' and e.status = 'done' order by e.id",
    )
    assert ", ".join(r[0] for r in rows) == steps


@then(parsers.parse('the query "{sql}" returns "{value}"'))
def _(sql: str, value: str, world: dict[str, Any]) -> None:
    rows = query(world["dsn"], sql)
    assert str(rows[0][0]) == value


@then(parsers.parse('the database has no schema "{schema}"'))
def _(schema: str, world: dict[str, Any]) -> None:
    assert query(world["dsn"], f"select to_regnamespace('{schema}')") == [(None,)]


@then(parsers.parse("{operator}'s run ends with exit code {code:d}"))
def _(operator: str, code: int, world: dict[str, Any]) -> None:
    proc = world["others"][operator]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, out + err


@given("a Supabase-like database where profiles has row level security and no policy")
def _(world: dict[str, Any]) -> None:
    from migrator.demo import sql_text

    query(world["dsn"], sql_text("supabase.sql"))
    query(
        world["dsn"],
        "create table profiles (id bigserial primary key, session_id int unique, "
        "results_version text); "
        "grant all on profiles to anon, authenticated, service_role; "
        "grant all on sequence profiles_id_seq to anon, authenticated, service_role; "
        "alter table profiles enable row level security",
    )


def _checkpoint(dsn: str) -> tuple[int, int]:
    if not query(dsn, "select to_regclass('migrator.checkpoints') is not null")[0][0]:
        return (0, 0)
    rows = query(dsn, "select rows_done, batches_done from migrator.checkpoints")
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


@given(parsers.parse('"{command}" was killed after {batches:d} batches'))
def _(command: str, batches: int, world: dict[str, Any]) -> None:
    proc = _spawn(command, world)
    try:
        wait_for(lambda: _checkpoint(world["dsn"])[1] >= batches, timeout=30, proc=proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


@then("the backfill stands still")
def _(world: dict[str, Any]) -> None:
    # the batch in flight commits; then, at each look at its controls, nothing moved
    (running,) = world["others"].values()  # the other terminal's backfill
    before = held_between_looks(world["dsn"], lambda: _checkpoint(world["dsn"]), proc=running)
    assert _checkpoint(world["dsn"]) == before
    assert before[0] < 20000


@then(parsers.parse('I run "{command}"'))
def _(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _run(command, world, capsys)


@then(parsers.parse('every row of "{source}" is in "{target}" exactly once'))
def _(source: str, target: str, world: dict[str, Any]) -> None:
    assert_exact(partial(query, world["dsn"]), source, target, rows=None)
