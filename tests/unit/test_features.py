"""features/ is living documentation: every file is proper Gherkin, every area runs, every tag
is a declared marker."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from gherkin.parser import Parser
from gherkin.token_scanner import TokenScanner

ROOT = Path(__file__).resolve().parents[2]
FEATURES = sorted((ROOT / "features").rglob("*.feature"))
AREAS = sorted(p.name for p in (ROOT / "features").iterdir() if p.is_dir())


def parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return Parser().parse(TokenScanner(text))


def test_there_are_features() -> None:
    assert len(FEATURES) >= 10
    assert {"docs", "graph", "report", "secrets"} <= set(AREAS)


@pytest.mark.parametrize("path", FEATURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_feature_parses_with_the_official_gherkin_parser(path: Path) -> None:
    document = parse(path)  # raises CompositeParserException, naming line and column
    feature = document["feature"]
    assert feature is not None and feature["name"].strip(), f"{path} has no feature"
    children = feature["children"] + [
        grandchild
        for c in feature["children"]
        if "rule" in c
        for grandchild in c["rule"]["children"]
    ]
    scenarios = [c["scenario"] for c in children if "scenario" in c]
    assert scenarios, f"{path} has no scenario"
    for scenario in scenarios:
        assert scenario["name"].strip()
        assert any(s["keyword"].strip() == "Then" for s in scenario["steps"]), (
            f"{path}: scenario '{scenario['name']}' checks nothing (no Then)"
        )


@pytest.mark.parametrize("area", AREAS)
def test_each_area_runs_as_a_test_module(area: str) -> None:
    """tests/bdd/test_AREA.py runs the whole area (`scenarios("AREA")`); or modules
    tests/bdd/test_AREA_*.py run its feature files, each named by one of them."""
    bdd = ROOT / "tests" / "bdd"
    modules = [bdd / f"test_{area}.py", *sorted(bdd.glob(f"test_{area}_*.py"))]
    texts = [m.read_text() for m in modules if m.exists()]
    assert texts, f"features/{area} has no tests/bdd/test_{area}.py: it never runs"
    if any(f'scenarios("{area}")' in text for text in texts):
        return
    for feature in sorted((ROOT / "features" / area).rglob("*.feature")):
        name = feature.relative_to(ROOT / "features").as_posix()
        assert any(f'"{name}"' in text for text in texts), f"{name} never runs"


def test_every_tag_is_a_declared_marker() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {m.split(":")[0] for m in config["tool"]["pytest"]["ini_options"]["markers"]}
    used = {
        tag.lstrip("@")
        for path in FEATURES
        for tag in re.findall(r"(?m)^\s*(@\S+(?:\s+@\S+)*)\s*$", path.read_text())
        for tag in tag.split()
    }
    assert used, "no feature is tagged"
    assert used <= declared, f"undeclared tags: {sorted(used - declared)}"
