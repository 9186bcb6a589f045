"""Scenarios of features/backfill, run for real against PostgreSQL."""

from __future__ import annotations

import math
import re
import threading
from pathlib import Path
from typing import Any

import psycopg
from pytest_bdd import given, parsers, scenarios, then

from tests.bdd.terminal_steps import *  # noqa: F403  (a command at a terminal of a width)
from tests.helpers import has_retry
from tests.processes import wait_for

scenarios("backfill")


def _progress_lines(world: dict[str, Any]) -> list[str]:
    """The lines the live progress drew, frame after frame: what the terminal received
    between hiding its cursor for the display and showing it again."""
    drawn = re.findall(r"\x1b\[\?25l(.*?)\x1b\[\?25h", world["terminal"], re.DOTALL)
    assert drawn, world["output"]
    lines = re.split(r"\r\n|\r|\n", ANSI.sub("", "".join(drawn)))  # noqa: F405
    return [line for line in lines if line.strip()]


def _set_key(path: Path, key: str, value: str) -> None:
    """Give `key` a new value on every line of the plan that sets it (one at least)."""
    lines = path.read_text().splitlines()
    changed = [
        line.split(f"{key}:")[0] + f"{key}: {value}" if f"{key}:" in line else line
        for line in lines
    ]
    assert changed != lines, f"{path.name} sets no {key}"
    path.write_text("\n".join(changed) + "\n")


@given(parsers.re(r'the plan "(?P<name>[^"]+)" now runs (?P<streams>\d+) streams?'))
def _(name: str, streams: str, world: dict[str, Any]) -> None:
    _set_key(world["dir"] / name, "parallel", str(int(streams)))


def _summary(step: str, output: str) -> re.Match[str]:
    """The line a backfill ends with: rows, batches, failures, retries and its times."""
    took = r"[\d.]+ m?s"  # as every view writes a duration: `240 ms`, `4.9 s`
    found = re.search(
        rf"^  {re.escape(step)}: (?P<counts>[\d,]+ rows walked, [\d,]+ written, "
        r"in \d+ batches, \d+ failed, "
        rf"\d+ retr(?:y|ies)), (?P<elapsed>{took}); mean batch (?P<mean>{took}), "
        rf"slowest (?P<slowest>{took})",
        output,
        re.MULTILINE,
    )
    assert found, output
    return found


def _seconds(took: str) -> float:
    number, unit = took.split()
    return float(number) / (1000 if unit == "ms" else 1)


@given(parsers.parse('the statement of "{name}" is now "{statement}"'))
def _(name: str, statement: str, world: dict[str, Any]) -> None:
    _set_key(world["dir"] / name, "statement", statement)


@then(parsers.parse("the resumed backfill went on in batches of {size:d}"))
def _(size: int, world: dict[str, Any]) -> None:
    output = world["output"]
    resumed = re.search(
        r"resuming after key \S+ \((?P<rows>[\d,]+) rows in (?P<b>\d+) batches, [\d,]+ written\)",
        output,
    )
    assert resumed, output
    rows_before, batches_before = int(resumed["rows"].replace(",", "")), int(resumed["b"])
    counts = re.match(
        r"(?P<rows>[\d,]+) rows walked, [\d,]+ written, in (?P<b>\d+) batches",
        _summary("copy", output)["counts"],
    )
    assert counts
    rows = int(counts["rows"].replace(",", ""))
    assert int(counts["b"]) - batches_before == math.ceil((rows - rows_before) / size), output


@then(parsers.parse('the backfill "{step}" took at least {seconds:f} seconds'))
def _(step: str, seconds: float, world: dict[str, Any]) -> None:
    assert _seconds(_summary(step, world["output"])["elapsed"]) >= seconds, world["output"]


@then(
    parsers.parse(
        'the output shows the progress of "{step}" in rows of {total}, rows written, rows '
        "per second and time left"
    )
)
def _(step: str, total: str, world: dict[str, Any]) -> None:
    line = (
        rf"^  {re.escape(step)}: [\d,]+ of {re.escape(total)} rows \(\d+%\), [\d,]+ written, "
        r"[\d,.]+ rows/s, \d[\w .]* left, [\w .]+ elapsed$"
    )
    assert re.search(line, world["output"], re.MULTILINE), world["output"]


@then(
    parsers.parse(
        'the backfill "{step}" sums up "{counts}" with its elapsed time, mean and slowest batch'
    )
)
def _(step: str, counts: str, world: dict[str, Any]) -> None:
    summary = _summary(step, world["output"])
    assert summary["counts"] == counts
    mean, slowest, elapsed = (_seconds(summary[k]) for k in ("mean", "slowest", "elapsed"))
    assert 0 < mean <= slowest <= elapsed, summary[0]


@given(parsers.parse('the plan "{name}" now follows new rows'))
def _(name: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    text = path.read_text()
    assert "          batch_size:" in text
    path.write_text(
        text.replace("          batch_size:", "          follow: true\n          batch_size:")
    )


@given(parsers.parse('the plan "{name}" has its backfill statement written as "{statement}"'))
def _(name: str, statement: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    text = path.read_text()
    assert "statement: STATEMENT" in text
    path.write_text(text.replace("statement: STATEMENT", f"statement: {statement}"))


@given(
    parsers.parse(
        'the session "{application}" holds the row of "{table}" with id {key:d} until a batch '
        "is retried"
    )
)
def _(
    application: str,
    table: str,
    key: int,
    world: dict[str, Any],
    lock_holders: list[threading.Event],
) -> None:
    """A support tool's session with one row locked (`select ... for update`); it lets go
    once the audit trail records a retry, not after any clock."""
    held, release = threading.Event(), threading.Event()
    lock_holders.append(release)

    def hold() -> None:
        with psycopg.connect(world["dsn"], application_name=application) as conn:
            conn.execute(
                f"select * from {table} where id = %s for update",  # type: ignore[arg-type]
                (key,),
            )
            held.set()
            wait_for(lambda: release.is_set() or has_retry(world["dsn"]), 60)
            conn.rollback()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)


@given(
    parsers.parse('the session "{application}" holds the table "{table}" until a retry is recorded')
)
def _(
    application: str, table: str, world: dict[str, Any], lock_holders: list[threading.Event]
) -> None:
    """A report tool's session holding the whole table (`lock table ... in access exclusive
    mode`); it lets go once the audit trail records a retry, not after any clock."""
    held, release = threading.Event(), threading.Event()
    lock_holders.append(release)

    def hold() -> None:
        with psycopg.connect(world["dsn"], application_name=application) as conn:
            conn.execute(f"lock table {table} in access exclusive mode")  # type: ignore[arg-type]
            held.set()
            wait_for(lambda: release.is_set() or has_retry(world["dsn"]), 60)
            conn.rollback()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)


@then(parsers.parse('the audit trail has a retry of "{part}" blocked by "{application}"'))
def _(part: str, application: str, world: dict[str, Any]) -> None:
    with psycopg.connect(world["dsn"], autocommit=True) as conn:
        rows = conn.execute(
            "select detail from migrator.events where kind = 'step' and status = 'retry'"
        ).fetchall()
    details = [row[0] for row in rows]
    assert any(
        d.get("part") == part and [b["application"] for b in d.get("blockers", [])] == [application]
        for d in details
    ), details


@then(
    parsers.parse(
        '{operator}\'s run ends with exit code {code:d}, "{step}" said paused, then running again'
    )
)
def _(operator: str, code: int, step: str, world: dict[str, Any]) -> None:
    proc = world["others"][operator]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, out + err
    lines = out.splitlines()
    assert f"  {step}: paused" in lines, out
    paused = lines.index(f"  {step}: paused")
    assert f"  {step}: running" in lines[paused + 1 :], out


@then(parsers.parse("no line of the progress is wider than {columns:d} columns"))
def _(columns: int, world: dict[str, Any]) -> None:
    from rich.cells import cell_len

    lines = _progress_lines(world)
    assert [line for line in lines if cell_len(line) > columns] == [], lines


@then(parsers.parse('the progress showed "{start}" shortened with "{mark}"'))
def _(start: str, mark: str, world: dict[str, Any]) -> None:
    lines = _progress_lines(world)
    assert any(line.startswith(f"  {start}") and line.endswith(mark) for line in lines), lines


@then(parsers.re(r'the progress showed (?P<figures>"[^"]+"(?:, "[^"]+")* and "[^"]+")'))
def _(figures: str, world: dict[str, Any]) -> None:
    frames = "\n".join(_progress_lines(world))
    for figure in re.findall(r'"([^"]+)"', figures):
        assert figure in frames, (figure, frames)
