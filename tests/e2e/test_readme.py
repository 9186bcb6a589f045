"""The README's first plan is real: it validates, applies, and rolls back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_plan() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    return next(b for b in blocks if b.startswith("# plans/widgets.yaml"))


def test_readme_plan_validates_applies_and_rolls_back(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(readme_plan(), "widgets.yaml")
    validated = migrator("validate", plan)
    assert validated.code == 0, validated.out
    assert migrator("apply", plan, "--to", "after").code == 0
    assert sql("select owner from widgets") == [("ops",)]
    assert sql("select value from migrator.flags where name = 'WIDGETS'") == [(True,)]
    assert migrator("rollback", plan).code == 0
    assert sql("select to_regclass('widgets')") == [(None,)]
    assert sql("select value from migrator.flags where name = 'WIDGETS'") == [(False,)]


def test_readme_names_the_two_commands() -> None:
    text = README.read_text()
    assert "migrator demo" in text
    assert "python -m pytest -q" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci  # CI runs the README's test command
