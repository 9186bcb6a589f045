"""YAML 1.2 booleans: only true and false are; `on`, `off`, `yes`, `no` stay words."""

from __future__ import annotations

from pathlib import Path

from migrator.plan.loader import load_plan


def test_phases_named_on_and_off_are_phases(tmp_path: Path, registry) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "switch.yaml"
    path.write_text(
        "plan: switch\n"
        "phases: [off, on]\n"
        "transitions:\n"
        "  - name: switch_on\n"
        "    from: off\n"
        "    to: on\n"
        "    steps:\n"
        "      - flag: {name: MODE, value: no}\n"
        "      - flag: {name: LIVE, value: true}\n"
    )
    plan = load_plan(path, registry)
    assert plan.phases == ("off", "on")
    values = [step.flag.value for step in plan.transitions[0].steps]
    assert values == ["no", True]
