"""Scenarios of features/lint: what `validate` finds in a plan's steps (lint.feature),
`ignore` (suppression.feature), `--strict` and the CI outputs (strict.feature). Every
feature of the area runs here (tests/unit/test_features.py): a feature of the area with
steps of its own needs them reachable from this module."""

from __future__ import annotations

import json
from typing import Any

from pytest_bdd import parsers, scenarios, then

scenarios("lint")


@then(parsers.parse('the GitLab report has the issue "{rule}" at line {line:d} of "{file}"'))
def gitlab_issue(world: dict[str, Any], rule: str, line: int, file: str) -> None:
    issues = json.loads(world["stdout"])
    found = [i for i in issues if i["check_name"] == rule]
    assert len(found) == 1, issues
    issue = found[0]
    assert issue["location"] == {"path": file, "lines": {"begin": line}}
    assert issue["severity"] == "minor"
    assert len(issue["fingerprint"]) == 64
    assert issue["description"].startswith("transitions[0].steps[0].sql: UPDATE with no WHERE")


@then(parsers.parse('the JSON problem at line {line:d} column {column:d} has the rule "{rule}"'))
def json_rule(world: dict[str, Any], line: int, column: int, rule: str) -> None:
    problems = json.loads(world["stdout"])["problems"]
    at = [p for p in problems if (p["line"], p["column"]) == (line, column)]
    assert [p["rule"] for p in at] == [rule], problems
