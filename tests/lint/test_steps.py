"""The core's step rules where the corpus cannot reach: SQL an action generates (no place
in the file), texts outside a transaction, a backfill's own binds; and the CI outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrator.errors import Problem
from migrator.lint import steps
from migrator.lint.findings import SqlText
from migrator.lint.linted import LintedStep
from migrator.plan import check_plan, load_plan
from migrator.plugin.manager import get_plugin_manager
from migrator.views.lintreport import github_annotations, gitlab_report

PLAN = """\
plan: p
vars: {owner: ops}
phases: [before, after]
transitions:
  - name: go
    from: before
    to: after
    steps:
      - sql: select 1
        rollback: irreversible
"""


def _linted(tmp_path: Path, *texts: SqlText, lock_timeout: bool = False) -> LintedStep:
    path = tmp_path / "p.yaml"
    text = PLAN + ("        lock_timeout: 1s\n" if lock_timeout else "")
    path.write_text(text)
    registry = get_plugin_manager().build_registry()
    plan = load_plan(path, registry)
    step: Any = plan.transitions[0].steps[0]
    return LintedStep(
        step=step,
        key="sql",
        label="sql #1",
        transition=plan.transitions[0],
        spec=registry.actions["sql"],
        in_transaction=True,
        texts=texts,
        variables=frozenset({"owner"}),
    )


def test_generated_sql_is_found_at_the_step(tmp_path: Path) -> None:
    generated = SqlText(
        (), "CREATE POLICY p ON public.profiles USING (true); set role x", generated=True
    )
    found = list(steps.check(_linted(tmp_path, generated)))
    assert [(f.rule, f.path, f.offset, f.trace) for f in found] == [
        (steps.RLS_LOCK, (), None, ("public.profiles", "AccessExclusiveLock")),
        (steps.SESSION_SET, (), None, None),
    ]


def test_a_batched_statement_is_no_whole_table_write(tmp_path: Path) -> None:
    text = "update t set x = 1 from (select id from t where id > :lo) b"
    batched = SqlText(("backfill", "statement"), text, binds=frozenset({"lo"}), batched=True)
    assert list(steps.check(_linted(tmp_path, batched))) == []
    once = SqlText(("sql",), text.replace(":lo", "1"))
    assert [f.rule for f in steps.check(_linted(tmp_path, once))] == [steps.WHOLE_TABLE]


def test_a_step_ignores_the_rules_over_its_transition(tmp_path: Path) -> None:
    path = tmp_path / "back.yaml"
    plan = (
        "plan: back\nphases: [a, b]\ntransitions:\n"
        "  - {name: go, from: a, to: b, steps: [{sql: select 1, rollback: irreversible%s}]}\n"
        "  - {name: back, from: b, to: a, steps: [{sql: create table t (), %s}]}\n"
    )
    path.write_text(plan % ("", "rollback: irreversible"))
    rules = [p.rule for p in check_plan(path)[1]]
    assert rules.count("irreversible-with-way-back") == 2
    path.write_text(plan % (", ignore: [irreversible-with-way-back]", "ignore: [no-undo]"))
    assert [p.rule for p in check_plan(path)[1]] == ["no-post-checks", "no-post-checks"]
    path.write_text(plan % ("", ""))
    assert [p.rule for p in check_plan(path)[1]].count("no-undo") == 1


def test_a_step_lock_timeout_quiets_the_rls_rule(tmp_path: Path) -> None:
    text = SqlText(("sql",), "alter table only t force row level security")
    assert [f.rule for f in steps.check(_linted(tmp_path, text))] == [steps.RLS_LOCK]
    assert list(steps.check(_linted(tmp_path, text, lock_timeout=True))) == []


def test_outside_a_transaction_control_and_concurrently_are_not_findings(tmp_path: Path) -> None:
    text = SqlText(("sql",), "begin; commit; create index concurrently i on t (c)", False)
    assert list(steps.check(_linted(tmp_path, text))) == []
    inside = SqlText(("sql",), "begin; commit; create index concurrently i on t (c)")
    assert [f.offset for f in steps.check(_linted(tmp_path, inside))] == [0, 7, 15]


def test_binds_the_action_provides_are_defined(tmp_path: Path) -> None:
    batch = SqlText(
        ("backfill", "statement"),
        "update t set o = :owner where id > :lo and id <= :hi and x = :lo2",
        binds=frozenset({"lo", "hi"}),
        batched=True,
    )
    found = list(steps.check(_linted(tmp_path, batch)))
    assert [(f.rule, f.offset) for f in found] == [(steps.UNDEFINED, 61)]
    assert "`:lo2` names no plan variable (did you mean `:lo`?)" in found[0].message


def test_github_annotations_escape_what_would_end_a_field() -> None:
    problem = Problem("a,b:c%.yaml", 3, 9, "steps[0].sql", "50%\r\nx", "warning", "some-rule")
    error = Problem("p.yaml", 1, 1, "", "bad")
    assert github_annotations([problem, error]) == [
        "::warning file=a%2Cb%3Ac%25.yaml,line=3,col=9,title=some-rule::steps[0].sql: 50%25%0D%0Ax",
        "::error file=p.yaml,line=1,col=1,title=migrator::bad",
    ]


def test_a_gitlab_fingerprint_stays_when_the_line_moves_and_differs_for_a_twin() -> None:
    one = Problem("p.yaml", 3, 9, "steps[0].sql", "why", "warning", "r")
    moved = Problem("p.yaml", 7, 9, "steps[0].sql", "why", "warning", "r")
    [a], [b] = gitlab_report([one]), gitlab_report([moved])
    assert a["fingerprint"] == b["fingerprint"]
    twins = gitlab_report([one, moved])
    assert twins[0]["fingerprint"] != twins[1]["fingerprint"]
    error = gitlab_report([Problem("p.yaml", 1, 2, "", "bad")])[0]
    assert (error["check_name"], error["severity"]) == ("migrator-error", "major")
    json.dumps(twins)  # plain JSON


def test_an_undefined_parameter_is_found_once_per_text_and_its_message_stays_short(
    tmp_path: Path,
) -> None:
    many = frozenset(f"v{i}" for i in range(300))
    text = SqlText(("sql",), "select :ownr, :ownr; select :ownr, :other, :owner")
    linted = _linted(tmp_path, text)
    linted = LintedStep(**{**linted.__dict__, "variables": many | {"owner"}})
    found = [f for f in steps.check(linted) if f.rule == steps.UNDEFINED]
    assert [(f.offset, f.message.split("`")[1]) for f in found] == [(7, ":ownr"), (35, ":other")]
    assert "(did you mean `:owner`?)" in found[0].message
    assert "... (301 in all)" in found[0].message
    assert len(found[0].message) < 300
