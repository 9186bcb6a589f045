"""`migrator graph`: a Mermaid state diagram drawn from the plan's phases and transitions."""

from __future__ import annotations

import re
from typing import Any

from migrator.plan import load_plan_text
from migrator.views.diagram import mermaid, state_ids

PLAN = """\
plan: scoring-results
phases: [legacy, dual_write, unified_only]
transitions:
  - {name: start_dual_write, from: legacy, to: dual_write}
  - {name: cutover, from: dual_write, to: unified_only, risk: high, approval: true}
  - {name: back_to_dual_write, from: unified_only, to: dual_write, risk: medium}
"""


def states(source: str) -> dict[str, str]:
    """Mermaid id -> label."""
    return dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r'^\s*state "([^"]*)" as (\S+)$', source, re.M)
    )


def edges(source: str) -> set[tuple[str, str, str]]:
    return {
        (m.group(1), m.group(2), m.group(3))
        for m in re.finditer(r"^\s*(\S+) --> (\S+): (.*)$", source, re.M)
    }


def active(source: str) -> list[str]:
    return re.findall(r"^\s*Class (\S+) s_active$", source, re.M)


def test_each_phase_is_a_state_and_each_transition_an_edge(registry: Any) -> None:
    source = mermaid(load_plan_text(PLAN, "p.yaml", registry))
    assert source.startswith("---\ntitle: scoring-results\n---\nstateDiagram-v2\n")
    assert states(source) == {
        "legacy": "legacy",
        "dual_write": "dual_write",
        "unified_only": "unified_only",
    }
    assert edges(source) == {
        ("legacy", "dual_write", "start_dual_write (risk low)"),
        ("dual_write", "unified_only", "cutover (risk high, needs approval)"),
        ("unified_only", "dual_write", "back_to_dual_write (risk medium)"),
    }
    assert "[*] --> legacy" in source  # the first phase is where a plan starts
    assert active(source) == []  # no database, no current phase


def test_the_current_phase_is_highlighted(registry: Any) -> None:
    source = mermaid(load_plan_text(PLAN, "p.yaml", registry), current="dual_write")
    assert active(source) == ["dual_write"]
    assert "classDef s_active fill:#fde68a" in source
    assert "[*] --> legacy" in source  # still the initial phase, not the current one


def test_a_hotfix_is_pending_and_applied_with_its_way_back(registry: Any) -> None:
    plan = load_plan_text("plan: fix\nkind: hotfix\nsteps: [{sql: select 1}]\n", "f.yaml", registry)
    source = mermaid(plan, current="applied")
    assert edges(source) == {
        ("pending", "applied", "apply (risk low)"),
        ("applied", "pending", "rollback (risk low, undoes apply)"),
    }
    assert active(source) == ["applied"]


def test_names_mermaid_would_misread_are_made_safe(registry: Any) -> None:
    plan = load_plan_text(
        """\
        plan: odd
        phases: [before, "two words", state, 'say "hi"', 2nd]
        transitions:
          - {name: "a;b #1", from: before, to: two words}
          - {name: x, from: two words, to: state}
          - {name: y, from: state, to: 'say "hi"'}
          - {name: z, from: 'say "hi"', to: 2nd}
        """.replace("        ", ""),
        "odd.yaml",
        registry,
    )
    source = mermaid(plan)
    assert states(source) == {
        "before": "before",
        "two_words": "two words",
        "phase_state": "state",
        "say__hi_": "say 'hi'",
        "phase_2nd": "2nd",
    }
    labels = {label for _, _, label in edges(source)}
    assert "a\uff1bb \uff031 (risk low)" in labels  # no ';' or '#' to end the label early
    for line in source.splitlines():
        assert line == line.rstrip()


def test_state_ids_never_collide() -> None:
    ids = state_ids(("a-b", "a_b", "a b"))
    assert len(set(ids.values())) == 3
    assert ids["a-b"] == "a_b"
