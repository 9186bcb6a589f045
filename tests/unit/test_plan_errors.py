"""Every kind of malformed plan is reported as FILE:LINE:COL: path: message, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migrator.errors import PlanError
from migrator.plan import check_plan, load_plan_text

VALID_HEAD = """\
plan: demo
phases: [legacy, dual_write]
transitions:
  - name: go
    from: legacy
    to: dual_write
"""


def problems_of(tmp_path: Path, text: str, registry: object) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    _, problems = check_plan(path, registry)  # type: ignore[arg-type]
    return [str(p).replace(str(path), "plan.yaml") for p in problems if p.severity == "error"]


CASES = {
    "yaml syntax": (
        "plan: x\nphases: [a, b\n",
        "plan.yaml:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>'",
    ),
    "duplicate key": (
        "plan: x\nphases: [a, b]\nplan: y\n",
        "plan.yaml:3:1: plan: duplicate key 'plan' (first given at line 1)",
    ),
    "unknown top-level key": (
        VALID_HEAD + "    post_checks: [{flag_is: {name: F, value: 1}}]\nsteps_: []\n",
        "plan.yaml:8:1: steps_: unknown key 'steps_' (did you mean 'steps'?)",
    ),
    "unknown key in a step": (
        VALID_HEAD + "    steps:\n      - sql: select 1\n        autocomit: true\n",
        "plan.yaml:9:9: transitions[0].steps[0].autocomit: unknown key 'autocomit' "
        "(did you mean 'autocommit'?)",
    ),
    "step without an action key": (
        VALID_HEAD + "    steps:\n      - name: nothing to do\n",
        "plan.yaml:8:9: transitions[0].steps[0]: a step needs one action key; available: "
        "backfill, command, flag, http, manual, policy, rls, sql, wait",
    ),
    "step with two action keys": (
        VALID_HEAD + "    steps:\n      - sql: select 1\n        flag: {name: F, value: true}\n",
        "plan.yaml:8:9: transitions[0].steps[0]: a step has exactly one action key, this one has "
        "2 (sql, flag): give each its own step",
    ),
    "unknown action key": (
        VALID_HEAD + "    steps:\n      - name: s\n        sqll: select 1\n",
        "plan.yaml:9:9: transitions[0].steps[0].sqll: unknown action key 'sqll' (did you mean "
        "'sql'?); available: backfill, command, flag, http, manual, policy, rls, sql, wait",
    ),
    "undeclared phase": (
        VALID_HEAD + "  - name: on\n    from: dual_write\n    to: unified\n",
        "plan.yaml:9:9: transitions[1].to: phase 'unified' is not declared in phases "
        "(legacy, dual_write)",
    ),
    "unreachable phase": (
        "plan: x\nphases: [a, b, c]\ntransitions:\n  - {name: t, from: a, to: b}\n",
        "plan.yaml:2:16: phases[2]: phase 'c' cannot be reached from the initial phase 'a' "
        "by any transition",
    ),
    "duplicate transition name": (
        VALID_HEAD + "  - name: go\n    from: dual_write\n    to: legacy\n",
        "plan.yaml:7:11: transitions[1].name: transition name 'go' is used twice (first at line 4)",
    ),
    "duplicate step name": (
        VALID_HEAD
        + "    steps:\n      - {name: s, sql: select 1}\n      - {name: s, sql: select 2}\n",
        "plan.yaml:9:16: transitions[0].steps[1].name: step name 's' is used twice "
        "(first at line 8)",
    ),
    "bad expect operator": (
        VALID_HEAD + "    pre_checks:\n      - query: select 1\n        expect: '=> 5'\n",
        "plan.yaml:9:17: transitions[0].pre_checks[0].expect: unknown operator '=>' in '=> 5': "
        "use one of == != > >= < <=",
    ),
    "ordering expect on a word": (
        VALID_HEAD + "    pre_checks:\n      - query: select 1\n        expect: '>= many'\n",
        "plan.yaml:9:17: transitions[0].pre_checks[0].expect: '>= many': '>=' compares numbers, "
        "and 'many' is not one",
    ),
    "bad equals_query": (
        VALID_HEAD + "    pre_checks:\n      - query: select 1\n        expect: {same_as: x}\n",
        "plan.yaml:9:17: transitions[0].pre_checks[0].expect: a mapping expectation takes "
        "exactly the key 'equals_query', not same_as",
    ),
    "number out of range": (
        VALID_HEAD
        + "    steps:\n      - backfill:\n          table: t\n          key: id\n"
        + "          statement: select 1\n          batch_size: 0\n",
        "plan.yaml:12:23: transitions[0].steps[0].backfill.batch_size: must be greater than 0",
    ),
    "missing required field": (
        VALID_HEAD + "    steps:\n      - flag: {value: true}\n",
        "plan.yaml:8:9: transitions[0].steps[0].flag: missing required field 'name'",
    ),
    "undeclared variable in a string": (
        VALID_HEAD
        + "    post_checks:\n      - http: {url: 'http://h/${host}'}\n"
        + "        expect: {status: 200}\n",
        "plan.yaml:8:21: transitions[0].post_checks[0].http.url: '${host}' names no plan "
        "variable (declared in vars: none)",
    ),
    "bad rollback": (
        VALID_HEAD + "    steps:\n      - sql: select 1\n        rollback: irreversibel\n",
        "plan.yaml:9:19: transitions[0].steps[0].rollback: rollback is a step, a list of steps, "
        "or 'irreversible', not 'irreversibel'",
    ),
    "bad literal": (
        VALID_HEAD + "    risk: extreme\n",
        "plan.yaml:7:11: transitions[0].risk: must be 'low', 'medium' or 'high'",
    ),
    "unknown kind": (
        "plan: x\nkind: hotfx\n",
        "plan.yaml:2:7: kind: unknown kind 'hotfx': use 'hotfix', or leave it out for a "
        "phased plan",
    ),
    "not a mapping": (
        "- plan: x\n",
        "plan.yaml:1:1: a plan is a YAML mapping (plan:, phases:, transitions: ...)",
    ),
    "lock_timeout longer than PostgreSQL takes": (
        VALID_HEAD + "    steps:\n      - sql: select 1\n        lock_timeout: 600h\n",
        "plan.yaml:9:23: transitions[0].steps[0].lock_timeout: a timeout PostgreSQL enforces "
        "is at most 2147483647ms (about 24.8 days), not 2.16e+06s",
    ),
    "timeout longer than PostgreSQL takes": (
        VALID_HEAD + "    steps:\n      - sql: select 1\n        timeout: 2147484s\n",
        "plan.yaml:9:18: transitions[0].steps[0].timeout: a timeout PostgreSQL enforces "
        "is at most 2147483647ms (about 24.8 days), not 2.14748e+06s",
    ),
    "batch_timeout longer than PostgreSQL takes": (
        VALID_HEAD
        + "    steps:\n      - backfill:\n          table: t\n          key: id\n"
        + "          statement: select 1\n          batch_timeout: 597h\n",
        "plan.yaml:12:26: transitions[0].steps[0].backfill.batch_timeout: a timeout PostgreSQL "
        "enforces is at most 2147483647ms (about 24.8 days), not 2.1492e+06s",
    ),
    "bad duration": (
        VALID_HEAD
        + "    post_checks:\n      - query: select 1\n        expect: 1\n"
        + "        wait: {timeout: 5 minutes}\n",
        "plan.yaml:10:25: transitions[0].post_checks[0].wait.timeout: '5 minutes' is not a "
        "duration: write 5s, 10m, 1h, 250ms or a number",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_plan_points_at_the_problem(tmp_path: Path, registry: object, case: str) -> None:
    text, expected = CASES[case]
    assert expected in problems_of(tmp_path, text, registry)


def test_every_problem_is_reported_at_once(tmp_path: Path, registry: object) -> None:
    text = (
        "plan: x\nphases: [a, b, c]\ntransitions:\n"
        "  - name: t\n    from: a\n    to: b\n    risk: extreme\n"
        "    steps:\n      - sqll: select 1\n"
    )
    found = problems_of(tmp_path, text, registry)
    assert [line.split(": ")[0] for line in found] == [
        "plan.yaml:2:16",  # unreachable c
        "plan.yaml:7:11",  # risk
        "plan.yaml:9:9",  # unknown action key
    ]


def test_load_raises_plan_error_with_every_problem(registry: object) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text("plan: x\nphases: [a]\ntransitions: []\n", "p.yaml", registry)  # type: ignore[arg-type]
    messages = [p.message for p in caught.value.problems]
    assert {p.path for p in caught.value.problems} == {"phases", "transitions"}
    assert any("at least 2 items" in m for m in messages)
    assert any("at least 1 item" in m for m in messages)


def test_a_loaded_plan_is_frozen(registry: object) -> None:
    plan = load_plan_text(
        VALID_HEAD + "    steps:\n      - sql: select 1\n",
        "p.yaml",
        registry,  # type: ignore[arg-type]
    )
    step = plan.transitions[0].steps[0]
    with pytest.raises(Exception, match="frozen"):
        step.sql = "drop table users"


def test_dates_stay_strings(registry: object) -> None:
    plan = load_plan_text(
        "plan: x\nvars: {since: 2025-09-17}\n"
        + VALID_HEAD.split("\n", 1)[1]
        + "    steps:\n      - sql: select 1\n",
        "p.yaml",
        registry,  # type: ignore[arg-type]
    )
    assert plan.variables["since"] == "2025-09-17"


class TestWarnings:
    def test_transition_without_post_checks(self, tmp_path: Path, registry: object) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(VALID_HEAD + "    steps:\n      - flag: {name: F, value: true}\n")
        plan, problems = check_plan(path, registry)  # type: ignore[arg-type]
        assert plan is not None
        assert [(p.severity, p.line, p.column, p.message) for p in problems] == [
            (
                "warning",
                4,
                11,
                "transition 'go' has no post-checks: nothing confirms that it worked",
            )
        ]

    def test_reversible_plan_with_a_step_that_cannot_be_undone(
        self, tmp_path: Path, registry: object
    ) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(
            VALID_HEAD
            + "    steps:\n      - {name: create, sql: create table t (id int)}\n"
            + "      - {name: gone, sql: drop table old, rollback: irreversible}\n"
            + "    post_checks: [{query: select 1, expect: 1}]\n"
            + "  - {name: back, from: dual_write, to: legacy}\n"
        )
        plan, problems = check_plan(path, registry)  # type: ignore[arg-type]
        assert plan is not None
        warnings = {(p.line, p.message) for p in problems if p.severity == "warning"}
        assert (
            8,
            "step 'create' cannot be undone: sql has no default undo; give it a rollback, "
            "or say rollback: irreversible",
        ) in warnings
        assert (
            9,
            "step 'gone' is irreversible, but the plan has a way back from 'dual_write' "
            "to 'legacy'",
        ) in warnings

    def test_one_way_plan_does_not_warn_about_undo(self, tmp_path: Path, registry: object) -> None:
        path = tmp_path / "p.yaml"
        path.write_text(
            VALID_HEAD + "    steps:\n      - sql: create table t (id int)\n"
            "    post_checks: [{query: select 1, expect: 1}]\n"
        )
        _, problems = check_plan(path, registry)  # type: ignore[arg-type]
        assert problems == []


def test_hotfix_desugars_into_pending_and_applied(registry: object) -> None:
    plan = load_plan_text(
        textwrap.dedent(
            """\
            plan: ir-07
            kind: hotfix
            steps:
              - policy: {table: profiles, name: p, to: service_role, using: "true"}
              - flag: {name: F, value: true}
            post_checks:
              - policy_exists: {table: profiles, name: p}
            """
        ),
        "h.yaml",
        registry,  # type: ignore[arg-type]
    )
    assert plan.phases == ("pending", "applied")
    apply, back = plan.transitions
    assert (apply.source, apply.target, len(apply.steps)) == ("pending", "applied", 2)
    assert (back.source, back.target, back.reverts) == ("applied", "pending", "apply")
    assert apply.steps[0].policy.to == ["service_role"]


def test_a_check_that_takes_no_expect_rejects_one(registry: object) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(
            "plan: x\nkind: hotfix\npost_checks:\n  - flag_is: {name: F, value: true}\n"
            "    expect: false\n",
            "p.yaml",
            registry,  # type: ignore[arg-type]
        )
    assert [str(p) for p in caught.value.problems] == [
        "p.yaml:5:5: post_checks[0].expect: unknown key 'expect': flag_is takes no expect "
        "(its own keys say what it checks)"
    ]
