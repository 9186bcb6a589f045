"""Scenarios of features/backfill, run for real against PostgreSQL."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, scenarios, then

scenarios("backfill")


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
    found = re.search(
        rf"backfill {re.escape(step)}: (?P<counts>[\d,]+ rows walked, [\d,]+ written, "
        r"in \d+ batches, \d+ failed, "
        r"\d+ retr(?:y|ies)), (?P<elapsed>[\d.]+)s; mean batch (?P<mean>[\d.]+)s, "
        r"slowest (?P<slowest>[\d.]+)s",
        output,
    )
    assert found, output
    return found


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
    assert float(_summary(step, world["output"])["elapsed"]) >= seconds, world["output"]


@then(
    parsers.parse(
        'the output shows the progress of "{step}" in rows of {total}, rows per second and '
        "time left"
    )
)
def _(step: str, total: str, world: dict[str, Any]) -> None:
    line = rf"{re.escape(step)}: [\d,]+ of {re.escape(total)} rows, [\d,]+ rows/s, about \d+s left"
    assert re.search(line, world["output"]), world["output"]


@then(
    parsers.parse(
        'the backfill "{step}" sums up "{counts}" with its elapsed time, mean and slowest batch'
    )
)
def _(step: str, counts: str, world: dict[str, Any]) -> None:
    summary = _summary(step, world["output"])
    assert summary["counts"] == counts
    mean, slowest, elapsed = (float(summary[k]) for k in ("mean", "slowest", "elapsed"))
    assert 0 < mean <= slowest <= elapsed, summary[0]
