"""Scenarios of features/integrations/pr_feedback.feature, run for real: a real rehearsal on
the test server, the dry run against the scenario's database."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytest_bdd import given, parsers, scenarios, then

from migrator.cli import main
from tests.rehearsing import fitting_pg_dump

scenarios("integrations/pr_feedback.feature")


@given(
    parsers.re(r'a (?P<failed>failed )?rehearsal of "(?P<plan>[^"]+)" saved as "(?P<name>[^"]+)"')
)
def _(
    failed: str | None,
    plan: str,
    name: str,
    world: dict[str, Any],
    admin_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`migrator rehearse PLAN --output json > NAME`, its scratch copy on the test server;
    a failed one exits 1 and still writes its document."""
    capsys.readouterr()
    argv = ["rehearse", plan, "--dsn", world["dsn"], "--scratch-dsn", admin_dsn]
    code = main([*argv, *fitting_pg_dump(admin_dsn), "--output", "json"])
    captured = capsys.readouterr()
    assert code == (1 if failed else 0), captured.out + captured.err
    (world["dir"] / name).write_text(captured.out)


@then(parsers.parse('the comment\'s first line is "{line}"'))
def _(line: str, world: dict[str, Any]) -> None:
    assert world["stdout"].splitlines()[0] == line, world["stdout"]


def _step(world: dict[str, Any], step: str) -> str:
    """The part of the comment about step `step`: from its heading to the next step's."""
    comment = world["stdout"]
    start = comment.index(f". {step}** (")
    ends = [i for i in (comment.find("**Step ", start), comment.find("#### ", start)) if i > 0]
    return comment[start : min(ends, default=len(comment))]


@then(parsers.parse('the comment shows step "{step}" with the SQL "{sql}"'))
def _(step: str, sql: str, world: dict[str, Any]) -> None:
    assert f"```sql\n{sql}\n```" in _step(world, step), world["stdout"]


@then(parsers.parse('the comment shows step "{step}" rehearsed: it "{took}" and "{did}"'))
def _(step: str, took: str, did: str, world: dict[str, Any]) -> None:
    (line,) = [x for x in _step(world, step).splitlines() if x.startswith("**Rehearsed:** ")]
    assert line.startswith(f"**Rehearsed:** {took}"), line
    assert did in line, line


@then(
    parsers.parse(
        'the comment shows every lint finding that "{command}" reports, at its file, line '
        "and column"
    )
)
def _(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    comment = world["stdout"]
    capsys.readouterr()
    main(command.split()[1:])
    problems = json.loads(capsys.readouterr().out)["problems"]
    found = [p for p in problems if p.get("rule") and ".steps[" in f".{p['path']}"]
    assert found, "the plan must have lint findings for this scenario to mean anything"
    for p in found:
        line = f"- ⚠️ `{p['rule']}` at `{p['file']}:{p['line']}:{p['column']}`: "
        assert line in comment, (line, comment)


@then("the output does not contain the database's password")
def _(world: dict[str, Any]) -> None:
    password = urlsplit(world["dsn"]).password
    assert password, "the scenario's DSN carries a password (tests/secrets_sweep.py)"
    assert password not in world["output"]
