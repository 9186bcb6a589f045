"""The lint corpus: every rule has a plan that triggers it at the right line and column,
and a safe twin that does not.

`tests/lint/corpus/<rule>.yaml` triggers rule `<rule>`; its comment lines
`# lint: <rule> LINE:COL` say every place the rule must be found, and nowhere else.
`<rule>.safe.yaml` is the same change done the safe way: the rule finds nothing there.
A file whose comment lines hold `# database: SQL` is linted against a fresh database where
that SQL ran first (`validate --dsn`), for the rules that read the target.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from migrator.errors import Problem
from migrator.lint.runner import known_rules
from migrator.plan import check_plan
from migrator.plugin.manager import get_plugin_manager

CORPUS = Path(__file__).parent / "corpus"
TRIGGERS = sorted(p for p in CORPUS.glob("*.yaml") if not p.name.endswith(".safe.yaml"))
SAFE = sorted(CORPUS.glob("*.safe.yaml"))
_EXPECT = re.compile(r"^# lint: (\S+) (\d+):(\d+)\s*$", re.M)
_DATABASE = re.compile(r"^# database: (.+)$", re.M)


def _rule_of(path: Path) -> str:
    return path.name.removesuffix(".safe.yaml").removesuffix(".yaml")


def _findings(path: Path, request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    text = path.read_text()
    setup = _DATABASE.findall(text)
    if not setup:
        _plan, problems = check_plan(path)
        return [p.as_dict() for p in problems]
    sql = request.getfixturevalue("sql")
    migrator = request.getfixturevalue("migrator")
    database = request.getfixturevalue("database")
    for statement in setup:
        sql(statement)
    result = migrator("validate", "--output", "json", "--dsn", database, path)
    found: list[dict[str, Any]] = json.loads(result.out)["problems"]
    return found


@pytest.mark.parametrize("path", TRIGGERS, ids=[p.stem for p in TRIGGERS])
def test_the_rule_is_found_where_the_plan_says(path: Path, request: pytest.FixtureRequest) -> None:
    rule = _rule_of(path)
    expected = {(r, int(line), int(col)) for r, line, col in _EXPECT.findall(path.read_text())}
    assert expected, f"{path.name} says nowhere what it triggers (# lint: RULE LINE:COL)"
    assert {r for r, _, _ in expected} == {rule}
    found = _findings(path, request)
    errors = [p for p in found if p["severity"] == "error"]
    assert errors == [], errors  # a corpus plan is a valid plan
    assert {(p["rule"], p["line"], p["column"]) for p in found if p.get("rule") == rule} == expected


@pytest.mark.parametrize("path", SAFE, ids=[p.stem for p in SAFE])
def test_the_safe_twin_is_not_found(path: Path, request: pytest.FixtureRequest) -> None:
    rule = _rule_of(path)
    found = _findings(path, request)
    assert [p for p in found if p["severity"] == "error"] == []
    assert [p for p in found if p.get("rule") == rule] == []


def test_every_rule_has_a_trigger_and_a_safe_twin() -> None:
    rules = {
        rid
        for rid, rule in known_rules(get_plugin_manager().build_registry()).items()
        if rule.origin == "migrator"
    }
    assert {_rule_of(p) for p in TRIGGERS} >= rules
    assert {_rule_of(p) for p in SAFE} >= rules


def test_a_finding_prints_its_rule_id() -> None:
    problem = Problem("p.yaml", 3, 9, "steps[0].sql", "a reason", "warning", "some-rule")
    assert str(problem) == "p.yaml:3:9: steps[0].sql: warning: a reason [some-rule]"
    assert problem.as_dict()["rule"] == "some-rule"
    assert "rule" not in Problem("p.yaml", 1, 1, "", "bad").as_dict()
