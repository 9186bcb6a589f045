"""Scenarios of features/docs, run for real through the command line."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from migrator.cli import main
from tests.bdd.page_steps import *  # noqa: F403  (a page as a reader sees it)

scenarios("docs")


@given(
    parsers.parse(
        'a rehearsal of "{plan}" saved as "{name}", in which step "{step}" took "{mode}" '
        'on "{relation}" and rewrote "{rewritten}"'
    )
)
def _(
    plan: str, name: str, step: str, mode: str, relation: str, rewritten: str, world: dict[str, Any]
) -> None:
    """A `rehearse --output json` document of the plan as it is now (its checksum), with the
    trace of one step in the forward leg (SPEC.md, "Rehearsal trace")."""
    text = (world["dir"] / plan).read_bytes()
    document = {
        "plan": re.search(r"^plan: (.+)$", text.decode(), re.M)[1],  # type: ignore[index]
        "plan_checksum": hashlib.sha256(text).hexdigest(),
        "result": "clean",
        "round_trips": [
            {
                "transition": "apply",
                "steps": [
                    {
                        "leg": "forward",
                        "step": step,
                        "locks": [{"relation": relation, "mode": mode}],
                        "rewritten": [rewritten],
                    }
                ],
            }
        ],
    }
    (world["dir"] / name).write_text(json.dumps(document))


@given(parsers.parse('the plan "{name}" is edited: "{old}" becomes "{new}"'))
def _(name: str, old: str, new: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@then(
    parsers.parse('the runbook shows every lint finding that "{command}" reports, beside its step')
)
def _(command: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    runbook = world["stdout"]
    capsys.readouterr()
    main(command.split()[1:])
    problems = json.loads(capsys.readouterr().out)["problems"]
    found = [p for p in problems if p.get("rule") and ".steps[" in f".{p['path']}"]
    assert found, "the plan must have lint findings for this scenario to mean anything"
    for p in found:
        line = f"- ⚠ `{p['rule']}` (line {p['line']}, column {p['column']}): "
        assert line in runbook, (line, runbook)
        section = runbook[: runbook.index(line)]
        step = section[section.rindex("\n**") :]  # the step the finding is listed under
        assert "```sql" in step, step
