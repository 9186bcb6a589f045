"""The steps of features/status/live.feature (run by tests/bdd/test_status.py): a run
watched from a second terminal, the run and the watcher real processes, every wait on
the database's state or on what a watcher printed (no sleeps)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, then, when

from migrator.cli import main
from migrator.db.target import application_name
from tests.helpers import query
from tests.processes import wait_for


def _status(world: dict[str, Any], plan: str) -> dict[str, Any]:
    """`migrator status PLAN --output json` as a document, run in this process."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["status", plan, "--dsn", world["dsn"], "--output", "json"])
    assert code == 0, err.getvalue()
    document: dict[str, Any] = json.loads(out.getvalue())
    world.setdefault("readings", []).append(document)
    return document


def _backfill(document: dict[str, Any]) -> dict[str, Any] | None:
    run = document["open_run"]
    return None if run is None else run["backfill"]


def _until(world: dict[str, Any], plan: str, holds: Any) -> dict[str, Any]:
    """The first status document of `plan` for which `holds(document)`; fails if alice's
    run ends first."""
    found: list[dict[str, Any]] = []

    def check() -> bool:
        document = _status(world, plan)
        if holds(document):
            found.append(document)
            return True
        return False

    wait_for(check, timeout=60, proc=world["others"].get("alice"))
    return found[0]


@given(parsers.parse('the terminal "{name}" watches "{command}"'))
def _(name: str, command: str, world: dict[str, Any]) -> None:
    """A watcher: a real process, its output to a file (no pipe to fill up)."""
    words = [*command.split()[1:], "--dsn", world["dsn"]]
    with (world["dir"] / f"watch-{name}.log").open("w") as log:
        world["others"][f"watch-{name}"] = subprocess.Popen(
            [sys.executable, "-m", "migrator", *words],
            cwd=world["dir"],
            stdout=log,
            stderr=subprocess.DEVNULL if "json" in words else subprocess.STDOUT,
            text=True,
        )


@when(parsers.parse('the terminal "{name}" shows "{text}"'))
@then(parsers.parse('the terminal "{name}" shows "{text}"'))
def _(name: str, text: str, world: dict[str, Any]) -> None:
    log = world["dir"] / f"watch-{name}.log"
    wait_for(lambda: text in log.read_text(), proc=world["others"][f"watch-{name}"])


@then(parsers.parse('the terminal "{name}" shows a document with the backfill paused by "{who}"'))
def _(name: str, who: str, world: dict[str, Any]) -> None:
    log = world["dir"] / f"watch-{name}.log"

    def paused() -> bool:
        lines = log.read_text().splitlines()[:-1]  # the last one may be half written
        readings = [_backfill(json.loads(line)) for line in lines]
        return any(b and b["paused"] and b["paused"]["by"] == who for b in readings)

    wait_for(paused, proc=world["others"][f"watch-{name}"])


def _watched(world: dict[str, Any], name: str, code: int) -> str:
    watcher = world["others"][f"watch-{name}"]
    assert watcher.wait(timeout=60) == code
    return str((world["dir"] / f"watch-{name}.log").read_text())


@then(parsers.parse('the watch in terminal "{name}" ends with exit code {code:d} saying "{text}"'))
def _(name: str, code: int, text: str, world: dict[str, Any]) -> None:
    output = _watched(world, name, code)
    assert text in " ".join(output.split()), output  # the line as rich wrapped it
    assert "step: copy" in output, output  # it showed the run while it was at work


@when(parsers.parse("{operator}'s process is killed"))
def _(operator: str, world: dict[str, Any]) -> None:
    proc = world["others"][operator]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


@then(
    parsers.parse(
        'the watch in terminal "{name}" ends with exit code {code:d}, a document a line, '
        'the last saying the run "{status}"'
    )
)
def _(name: str, code: int, status: str, world: dict[str, Any]) -> None:
    readings = [json.loads(line) for line in _watched(world, name, code).splitlines()]
    assert len(readings) >= 2
    *during, last = readings
    assert all("ended" not in r for r in during)
    rows = [r["open_run"]["backfill"]["rows_done"] for r in during if _backfill(r)]
    assert rows and rows == sorted(rows), rows  # never backwards
    assert last["open_run"] is None and last["phase"] == "full"
    (ended,) = last["ended"]
    assert f"ended {status};" in ended


@when(parsers.parse('the status of "{plan}" shows the backfill "{step}" under way'))
def _(plan: str, step: str, world: dict[str, Any]) -> None:
    document = _until(
        world,
        plan,
        lambda d: (_backfill(d) or {}).get("step") == step and _backfill(d)["rows_done"] > 0,
    )
    world["first"] = document


@then(parsers.parse('the status of "{plan}" shows more rows done, a rate and the time left'))
def _(plan: str, world: dict[str, Any]) -> None:
    first = _backfill(world["first"])
    assert first is not None

    def more(document: dict[str, Any]) -> bool:
        b = _backfill(document)
        return (
            b is not None
            and b["rows_done"] > first["rows_done"]
            and b["rows_per_second"] is not None
            and b["eta_seconds"] is not None
        )

    b = _backfill(_until(world, plan, more))
    assert b is not None
    assert b["rows_per_second"] > 0
    assert b["rows_total"] >= b["rows_done"]
    assert 0 < b["percent"] <= 100
    assert b["streams"] == 1
    assert b["last_batch_age_seconds"] is not None and b["last_batch_age_seconds"] >= 0
    assert b["paused"] is False and b["throttled"] is None
    # the time left is what remains at the rate shown
    left = (b["rows_total"] - b["rows_done"]) / b["rows_per_second"]
    assert abs(left - b["eta_seconds"]) <= max(0.2, 0.05 * left), b


@then(parsers.parse('the status of "{plan}" shows run of "{operator}" in step "{step}", running'))
def _(plan: str, operator: str, step: str, world: dict[str, Any]) -> None:
    run = _status(world, plan)["open_run"]
    assert run["state"] == "running", run
    assert run["current_step"] == step
    assert run["operator"] == operator
    assert run["pid"] == world["others"][operator].pid
    assert run["elapsed_seconds"] >= 0
    assert run["settle"] == []


@given("the database is under pressure")
@when("the database comes under pressure")
def _(world: dict[str, Any]) -> None:
    query(world["dsn"], "update pressure set high = true")


@when("the pressure is off")
def _(world: dict[str, Any]) -> None:
    query(world["dsn"], "update pressure set high = false")


@then(parsers.parse('the status of "{plan}" shows the backfill throttled: "{reason}"'))
def _(plan: str, reason: str, world: dict[str, Any]) -> None:
    document = _until(world, plan, lambda d: (_backfill(d) or {}).get("throttled") == reason)
    assert document["open_run"]["state"] == "running"


@then(parsers.parse('the status of "{plan}" shows the backfill paused by "{operator}"'))
def _(plan: str, operator: str, world: dict[str, Any]) -> None:
    document = _status(world, plan)
    run = document["open_run"]
    assert run["state"] == "paused", run
    paused = run["backfill"]["paused"]
    assert paused["by"] == operator
    assert paused["since"] and paused["since"][:4].isdigit() and "+" in paused["since"]
    assert document["paused"] is True


@then(
    parsers.parse(
        "the status document counts at least {rows:d} rows done, as the checkpoint committed"
    )
)
def _(rows: int, world: dict[str, Any]) -> None:
    backfill = json.loads(world["stdout"])["open_run"]["backfill"]
    (committed,) = query(world["dsn"], "select rows_done from migrator.checkpoints")[0]
    assert backfill["rows_done"] >= committed >= rows, (backfill, committed)
    assert backfill["rows_per_second"] is None  # no rate for a run that is not at work


@pytest.fixture
def held_tables() -> Any:
    releases: dict[str, threading.Event] = {}
    yield releases
    for release in releases.values():
        release.set()


@given(parsers.parse('the session "{application}" holds the table "{table}"'))
def _(application: str, table: str, world: dict[str, Any], held_tables: Any) -> None:
    held, release = threading.Event(), threading.Event()
    held_tables[application] = release

    def hold() -> None:
        with psycopg.connect(world["dsn"], application_name=application) as conn:
            conn.execute(f"lock table {table} in access exclusive mode")  # type: ignore[arg-type]
            held.set()
            release.wait(60)
            conn.rollback()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)


@when(parsers.parse('the session "{application}" lets go'))
def _(application: str, held_tables: Any) -> None:
    held_tables[application].set()


@when(parsers.parse("{operator}'s run waits for a lock"))
def _(operator: str, world: dict[str, Any]) -> None:
    name = application_name(world["others"][operator].pid)

    def waiting() -> bool:
        rows = query(
            world["dsn"],
            "select 1 from pg_stat_activity where application_name = %s "
            "and wait_event_type = 'Lock'",
            name,
        )
        return bool(rows)

    wait_for(waiting, proc=world["others"][operator])


@given(parsers.parse('a terminal of {columns:d} columns watches "{command}"'))
def _(columns: int, command: str, world: dict[str, Any]) -> None:
    """A watcher on a terminal (a pseudo-terminal of `columns` columns): what it draws is
    read as it comes, until the process ends."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    words = command.split()[1:]  # the database by MIGRATOR_DSN: no warning of --dsn's password
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", *words],
        cwd=world["dir"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "MIGRATOR_DSN": world["dsn"]},
    )
    os.close(slave)
    shown: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            shown.append(chunk)
        os.close(master)

    threading.Thread(target=read, daemon=True).start()
    world["others"]["watch"] = proc
    world["terminal"] = shown


def _screen(world: dict[str, Any]) -> str:
    """What the terminal got, its escape sequences (colours, cursor moves) taken out."""
    raw = b"".join(world["terminal"]).decode("utf-8", "replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", raw)


@when(parsers.parse('the terminal shows "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    wait_for(lambda: text in _screen(world), proc=world["others"]["watch"])


@when("the watch is stopped with Ctrl-C")
def _(world: dict[str, Any]) -> None:
    world["others"]["watch"].send_signal(signal.SIGINT)


@then(parsers.parse('the watch ends with exit code {code:d} saying "{text}"'))
def _(code: int, text: str, world: dict[str, Any]) -> None:
    assert world["others"]["watch"].wait(timeout=30) == code
    wait_for(lambda: text in _screen(world))


@then(parsers.parse("no line the terminal showed is wider than {columns:d} columns"))
def _(columns: int, world: dict[str, Any]) -> None:
    lines = re.split(r"\r\n|\r|\n", _screen(world))
    assert any(line.startswith("  rows: ") for line in lines), lines
    wide = [line for line in lines if len(line) > columns]
    assert not wide, wide


@then("the terminal showed the lock's line whole, wrapped and not cut, to its time zone")
def _(world: dict[str, Any]) -> None:
    # longer than the terminal is wide: a Live that crops its lines would cut its end
    words = " ".join(_screen(world).split())
    whole = r"lock: held by run \d+ of \S+ on \S+ \(pid \d+\) since \d{4}-\d\d-\d\d [\d:]{8} \S+"
    assert re.search(whole, words), words


@when(parsers.parse("{operator}'s run has retried a step"))
def _(operator: str, world: dict[str, Any]) -> None:
    def retried() -> bool:
        if query(world["dsn"], "select to_regclass('migrator.events')") == [(None,)]:
            return False
        return bool(query(world["dsn"], "select 1 from migrator.events where status = 'retry'"))

    wait_for(retried, proc=world["others"][operator])
