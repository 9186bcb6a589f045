"""A generated plan of 200 transitions and 2,000 steps validates clean.

How fast it validates is measured, beside its target of a second, by benchmarks/scale.py
(timings belong in benchmarks, not in tests); this checks that the plan it generates is
a valid plan without a single warning, in process and through `migrator validate`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.cli import main
from migrator.plan import check_plan
from migrator.plugin.registry import Registry
from tests.benchmarks import load


def test_the_generated_plan_of_200_transitions_and_2000_steps_validates_clean(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scale.yaml"
    path.write_text(load("scale").generate_plan(200, 2000))
    plan, problems = check_plan(path, registry)
    assert problems == []
    assert plan is not None
    assert len(plan.transitions) == 200
    assert sum(len(t.steps) for t in plan.transitions) == 2000
    assert plan.phases[0] == "p0000" and plan.phases[-1] == "p0200"

    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == f"{path} (plan scale-200x2000): valid, 0 error(s), 0 warning(s)\n"
