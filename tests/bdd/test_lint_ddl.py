"""Scenarios of features/lint/ddl.feature: the DDL rules, as validate shows them."""

from __future__ import annotations

import json
from typing import Any

from pytest_bdd import parsers, scenarios, then

scenarios("lint/ddl.feature")


@then(parsers.parse("the JSON problems are, by rule, line and column:"))
def _(datatable: list[list[str]], world: dict[str, Any]) -> None:
    header, *rows = datatable
    assert header == ["rule", "line", "column"]
    found = [
        [p["rule"], str(p["line"]), str(p["column"])]
        for p in json.loads(world["stdout"])["problems"]
        if p.get("rule")
    ]
    assert found == rows, world["stdout"]
