"""What a plugin's spec declares is what the core knows of it: the language its text is
shown in (runbooks) and whether it reaches outside the database (rehearsals). The core
names no plugin; a plugin registered here, unknown to it, is treated like a built-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import migrator
from migrator.plan import load_plan_text
from migrator.plugin.manager import get_plugin_manager
from migrator.plugin.registry import Registry
from migrator.rehearse.standins import rehearsal_registry, stood_in
from migrator.views.runbook import runbook
from migrator.views.runbook_markdown import markdown

PLAN = """\
plan: deploy
kind: hotfix
steps:
  - name: restart the app
    shell: systemctl restart app
    rollback: {shell: systemctl restart app-previous}
  - name: a table
    sql: create table t (id int)
post_checks:
  - {name: the app answers, probe: "http://app/health"}
"""


class Deployer:
    """A plugin the core has never heard of: a shell action and a probe check."""

    @migrator.hookimpl
    def migrator_register_actions(self, register: Callable[[migrator.ActionSpec], None]) -> None:
        register(
            migrator.ActionSpec(
                key="shell",
                config=str,
                run=lambda ctx, step: {"ran": step.shell},
                describe=lambda step: step.shell,
                reaches_outside=True,
                language="shell",
            )
        )

    @migrator.hookimpl
    def migrator_register_checks(self, register: Callable[[migrator.CheckSpec], None]) -> None:
        register(
            migrator.CheckSpec(
                key="probe",
                config=str,
                evaluate=lambda ctx, check: migrator.CheckOutcome(True, 200, 200),
                describe=lambda check: f"GET {check.probe}",
                expect_required=False,
                reaches_outside=True,
            )
        )


@pytest.fixture
def registry() -> Registry:
    pm = get_plugin_manager()
    pm.register(Deployer(), name="deployer")
    return pm.build_registry()


def test_the_runbook_fences_each_text_in_the_language_its_spec_declares(
    registry: Registry,
) -> None:
    doc = runbook(load_plan_text(PLAN, "deploy.yaml", registry), registry)
    t = doc["transitions"][0]  # apply (the second is the hotfix's way back)
    assert [(s["action"], s["language"]) for s in t["steps"]] == [
        ("shell", "shell"),
        ("sql", "sql"),
    ]
    assert t["steps"][0]["undo"]["language"] == "shell"
    assert [(c["check"], c["language"]) for c in t["post_checks"]] == [("probe", "")]
    page = markdown(doc)
    assert "```shell\nsystemctl restart app\n```" in page
    assert "```sql\ncreate table t (id int)\n```" in page


def test_a_rehearsal_stands_in_what_its_spec_says_reaches_outside(registry: Registry) -> None:
    plan = load_plan_text(PLAN, "deploy.yaml", registry)

    assert stood_in(plan, registry) == [
        "step 'restart the app' (shell)",
        "post-check 'the app answers' (probe)",
    ]
    stand_ins = rehearsal_registry(registry)
    said: list[str] = []
    ctx: Any = migrator.StepContext(
        connection=None,  # type: ignore[arg-type]
        variables={},
        plan="deploy",
        operator="t",
        say=said.append,
    )
    step = plan.transitions[0].steps[0]
    assert stand_ins.actions["shell"].run(ctx, step) == {"rehearsal": "not called"}
    assert said == ["  shell: not called on a rehearsal"]
    outcome = stand_ins.checks["probe"].evaluate(ctx, plan.transitions[0].post_checks[0])
    assert (outcome.passed, outcome.actual) == (True, "not asked")
    assert stand_ins.actions["sql"] is registry.actions["sql"]
    assert registry.actions["shell"].run(ctx, step) == {"ran": "systemctl restart app"}
