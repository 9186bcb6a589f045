"""`ignore`: where each rule can be silenced (a step's rules by the step, a transition's by
the transition, a hotfix's by the plan), its two forms, and what a wrong one is told."""

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


def test_a_transition_silences_its_own_rules(tmp_path: Path) -> None:
    assert "no-post-checks" in _rules(_phased(tmp_path))
    problems = _phased(tmp_path, transition="    ignore: [no-post-checks]\n")
    assert _rules(problems) == ["whole-table-write"]
    reason = "    ignore:\n      no-post-checks: the next transition checks the column\n"
    assert _rules(_phased(tmp_path, transition=reason)) == ["whole-table-write"]


def test_a_hotfix_silences_its_transition_s_rules_at_the_top(tmp_path: Path) -> None:
    hotfix = "plan: h\nkind: hotfix\n%ssteps:\n  - sql: select 1\n    rollback: {sql: select 2}\n"
    valid, problems = _check(tmp_path, hotfix % "")
    assert valid and _rules(problems) == ["no-post-checks"]
    valid, problems = _check(tmp_path, hotfix % "ignore: [no-post-checks]\n")
    assert valid and problems == []
    in_step = hotfix.replace("select 2}\n", "select 2}\n    ignore: [no-post-checks]\n") % ""
    valid, problems = _check(tmp_path, in_step)
    assert valid and [(p.line, p.column, p.rule) for p in problems] == [
        (1, 1, "no-post-checks"),
        (6, 14, None),
    ]
    assert "put it in the plan's own `ignore` (at the top" in problems[1].message


def test_a_step_naming_a_transition_rule_is_told_where_it_goes(tmp_path: Path) -> None:
    problems = _phased(tmp_path, step="        ignore: [whole-table-write, no-post-checks]\n")
    assert _rules(problems) == ["no-post-checks", None]
    told = problems[1]
    assert (told.line, told.column, told.severity) == (10, 37, "warning")
    assert "a step's ignore does not silence it" in told.message
    assert "the transition's `ignore` (transitions[0].ignore)" in told.message


def test_a_transition_naming_a_step_rule_is_told_where_it_goes(tmp_path: Path) -> None:
    problems = _phased(tmp_path, transition="    ignore: [no-post-checks, whole-table-write]\n")
    assert _rules(problems) == [None, "whole-table-write"]
    assert (problems[0].line, problems[0].column) == (7, 30)
    assert "put it in the `ignore` of the step it is about" in problems[0].message


def test_a_rule_id_with_no_reason_is_taken_as_in_the_list(tmp_path: Path) -> None:
    step = "        ignore:\n          whole-table-write:\n"
    assert _rules(_phased(tmp_path, "    ignore: {no-post-checks: }\n", step)) == []


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
