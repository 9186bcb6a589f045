"""`ignore`: its two forms, and what a wrong one is told."""

from __future__ import annotations

from pathlib import Path

from migrator.errors import Problem
from migrator.plan import check_plan

PHASED = """\
plan: p
phases: [a, b]
transitions:
  - name: go
    from: a
    to: b
{transition}    steps:
      - sql: update t set a = 1
        rollback: irreversible
{step}"""


def _check(tmp_path: Path, text: str) -> tuple[bool, list[Problem]]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    plan, problems = check_plan(path)
    return plan is not None, problems


def _phased(tmp_path: Path, transition: str = "", step: str = "") -> list[Problem]:
    valid, problems = _check(tmp_path, PHASED.format(transition=transition, step=step))
    assert valid, problems
    return problems


def _rules(problems: list[Problem]) -> list[str | None]:
    return [p.rule for p in problems]


def test_a_rule_id_with_no_reason_is_taken_as_in_the_list(tmp_path: Path) -> None:
    step = "        ignore:\n          whole-table-write:\n"
    assert _rules(_phased(tmp_path, step=step)) == ["no-post-checks"]


def test_a_wrong_form_is_one_error_that_names_the_forms(tmp_path: Path) -> None:
    for ignore, detail in (
        ("whole-table-write", "not one id: write `ignore: [whole-table-write]`"),
        ("{whole-table-write: [a, b]}", "the reason given for whole-table-write is not text"),
        ("[whole-table-write, [x]]", "['x'] is not a rule id"),
        ("3", "not int"),
    ):
        text = PHASED.format(transition="", step=f"        ignore: {ignore}\n")
        valid, problems = _check(tmp_path, text)
        assert not valid
        assert [(p.line, p.path, p.message) for p in problems] == [
            (
                10,
                "transitions[0].steps[0].ignore",
                "must be a list of rule ids, or a mapping of rule id to the reason it is "
                f"safe here; {detail}",
            )
        ]
