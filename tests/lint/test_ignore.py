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


def test_an_unknown_rule_is_shown_at_its_id_with_the_nearest_one(tmp_path: Path) -> None:
    step = "        ignore:\n          WHOLE-TABLE-WRITE: reason\n          xyzzy: reason\n"
    problems = _phased(tmp_path, step=step)
    unknown = [p for p in problems if p.rule is None]
    assert [(p.line, p.column) for p in unknown] == [(11, 11), (12, 11)]
    assert [p.message for p in unknown] == [
        "ignore names no lint rule 'WHOLE-TABLE-WRITE' (did you mean 'whole-table-write'? "
        "the rules are listed in docs/lint.md)",
        "ignore names no lint rule 'xyzzy' (the rules are listed in docs/lint.md)",
    ]
    # an id is exact: a near one silences nothing
    assert "whole-table-write" in _rules(problems)
    listed = _phased(tmp_path, step="        ignore: [no-post-check]\n")
    assert [(p.line, p.column, p.message) for p in listed if p.rule is None] == [
        (
            10,
            18,
            "ignore names no lint rule 'no-post-check' (did you mean 'no-post-checks'? "
            "the rules are listed in docs/lint.md)",
        )
    ]
