"""`migrator docs` renderers: the runbook says what the plan says, and nothing it must not."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

import pytest

from migrator.plan import load_plan_text
from migrator.views.diagram_svg import runbook_svg
from migrator.views.markdown import code, fence
from migrator.views.runbook import runbook
from migrator.views.runbook_html import html_page
from migrator.views.runbook_markdown import markdown

SCORING = textwrap.dedent(
    """\
    plan: scoring-results
    description: Move scoring data to scoring_results
    vars: {status: completed, scoring_version: v1.2.1}
    phases: [legacy, dual_write, unified_only]
    transitions:
      - name: start_dual_write
        from: legacy
        to: dual_write
        steps:
          - name: create the table
            sql: create table scoring_results (session_id int primary key, v text)
            rollback: {sql: drop table scoring_results}
          - name: copy sessions
            sql: insert into scoring_results select id, :scoring_version from s where st = :status
            rollback: {sql: delete from scoring_results where v = :scoring_version}
          - name: write both
            flag: {name: WRITE_EXPLODED, value: true}
        post_checks:
          - name: every session copied
            query: |
              select count(*) from s left join scoring_results r on r.session_id = s.id
              where r.session_id is null
            expect: 0
      - name: cutover
        from: dual_write
        to: unified_only
        risk: high
        approval: true
        pre_checks:
          - name: nothing in flight
            query: select count(*) from s where status = 'running'
            expect: "<= 3"
            on_fail: warn
          - name: same rows
            query: select session_id from scoring_results
            expect: {equals_query: select id from s}
            wait: {timeout: 5m, interval: 10s}
        steps:
          - name: stop writing the exploded tables
            flag: {name: WRITE_EXPLODED, value: false}
          - name: drop the old view
            sql: drop view if exists old_scores
            rollback: irreversible
          - name: tell ops
            http:
              method: POST
              url: https://hooks.example.com/notify
              headers: {Authorization: "Bearer ${env:HOOK_TOKEN}"}
        post_checks:
          - name: conversion stays up
            query: select count(*) from profiles
            expect: "> 0"
            soak: {duration: 1h, interval: 1m, failure_limit: 2}
      - name: back_to_dual_write
        from: unified_only
        to: dual_write
        steps:
          - {name: write both again, flag: {name: WRITE_EXPLODED, value: true}}
    """
)

HOTFIX = textwrap.dedent(
    """\
    plan: ir-07
    kind: hotfix
    description: profiles has RLS on and no policy <script>alert(1)</script>
    pre_checks:
      - name: no policy yet
        query: select count(*) from pg_policies where tablename = 'profiles'
        expect: 0
    steps:
      - name: Fix A
        policy:
          table: public.profiles
          name: Service role can manage profiles
          to: public
          using: auth.role() = 'service_role'
      - name: announce
        flag: {name: PROFILES_FIXED, value: true}
    post_checks:
      - name: service role can write
        rls_probe:
          as_role: service_role
          claims: {role: service_role}
          sql: insert into profiles (session_id) values (1)
        expect: allowed
    """
)


@pytest.fixture
def scoring(registry: Any) -> tuple[dict[str, Any], str]:
    plan = load_plan_text(SCORING, "plans/scoring-results.yaml", registry)
    doc = runbook(plan, registry)
    return doc, markdown(doc)


def section(text: str, heading: str) -> str:
    """The text under a `##`/`###` heading, up to the next heading of that level or higher."""
    level = heading.split(" ")[0]
    start = text.index(heading + "\n") if heading + "\n" in text else text.index(heading)
    rest = text[start + len(heading) :]
    stop = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return rest[: stop.start()] if stop else rest


def test_every_transition_has_a_section_with_its_risk_and_approval(
    scoring: tuple[dict[str, Any], str],
) -> None:
    _, text = scoring
    cutover = section(text, "## 2. cutover: dual\\_write → unified\\_only")
    assert "**Risk:** high" in cutover
    assert "**Approval:** required" in cutover
    first = section(text, "## 1. start\\_dual\\_write: legacy → dual\\_write")
    assert "**Risk:** low" in first and "**Approval:** not required" in first
    assert "## 3. back\\_to\\_dual\\_write: unified\\_only → dual\\_write" in text


def test_sql_is_the_plans_own_with_parameters_never_values(
    scoring: tuple[dict[str, Any], str],
) -> None:
    _, text = scoring
    assert (
        "insert into scoring_results select id, :scoring_version from s where st = :status" in text
    )
    assert "delete from scoring_results where v = :scoring_version" in text
    assert "= 'completed'" not in text  # the default is listed, never pasted in
    assert "`:status` = `completed`" in text


def test_pre_checks_show_their_sql_and_expected_values(
    scoring: tuple[dict[str, Any], str],
) -> None:
    _, text = scoring
    pre = section(text, "### Pre-checks")
    assert "**1. nothing in flight** (`query`; expect `<= 3`; on failure: warn and go on)" in pre
    assert "select count(*) from s where status = 'running'" in pre
    assert "polled every 10s for up to 5m" in pre
    assert "select id from s" in pre  # the equals_query


def test_each_step_says_how_it_is_undone(scoring: tuple[dict[str, Any], str]) -> None:
    _, text = scoring
    steps = section(text, "### Steps")
    assert "create table scoring_results (session_id int primary key, v text)" in steps
    assert "Undone by:\n\n```sql\ndrop table scoring_results\n```" in steps
    assert "Undone by: default undo of flag: Put back exactly what was there" in steps
    cutover = section(text, "## 2. cutover: dual\\_write → unified\\_only")
    assert "Undone by: **nothing: marked irreversible**" in cutover
    assert "- **Irreversible steps:** drop the old view (in `cutover`)" in text


def test_the_rollback_plan_is_the_steps_in_reverse_order(
    scoring: tuple[dict[str, Any], str],
) -> None:
    doc, text = scoring
    plan = section(section(text, "## 1. start\\_dual\\_write"), "### Rollback plan")
    order = [
        plan.index(f". {name}:") for name in ("write both", "copy sessions", "create the table")
    ]
    assert order == sorted(order)
    assert "1. write both:" in plan and "3. create the table:" in plan
    assert [u["step"] for u in doc["transitions"][0]["undo_order"]] == [
        "write both",
        "copy sessions",
        "create the table",
    ]
    assert "`migrator rollback plans/scoring-results.yaml` undoes these steps" in plan
    cutover_back = section(section(text, "## 2. cutover"), "### Rollback plan")
    assert "runs the transition `back_to_dual_write`" in cutover_back


def test_post_checks_and_soak_windows_are_the_success_criteria(
    scoring: tuple[dict[str, Any], str],
) -> None:
    _, text = scoring
    criteria = section(section(text, "## 2. cutover"), "### Success criteria (post-checks)")
    assert "**1. conversion stays up** (`query`; expect `> 0`; on failure: abort; soak: " in (
        criteria
    )
    assert "checked every 1m for 1h, at most 2 failed sample(s)" in criteria


def test_the_diagram_and_the_transition_table(scoring: tuple[dict[str, Any], str]) -> None:
    doc, text = scoring
    assert "```mermaid\n" + doc["diagram"].rstrip() + "\n```" in text
    assert "| 2 | `cutover` | `dual_write` → `unified_only` | high | required | 2 | 3 | 1 |" in text
    assert doc["highest_risk"] == "high"


def test_an_environment_secret_is_named_never_resolved(
    registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "tok-5up3r-s3cret")
    plan = load_plan_text(SCORING, "plans/scoring-results.yaml", registry)
    doc = runbook(plan, registry)
    text = markdown(doc)
    page = html_page(text, "x")
    assert "Authorization: Bearer ${env:HOOK_TOKEN}" in text
    assert doc["environment"] == ["HOOK_TOKEN"]
    for shown in (text, page, json.dumps(doc)):
        assert "tok-5up3r-s3cret" not in shown


def test_a_hotfix_rollback_undoes_its_steps_in_reverse(registry: Any) -> None:
    plan = load_plan_text(HOTFIX, "plans/ir-07.yaml", registry)
    doc = runbook(plan, registry)
    text = markdown(doc)
    back = section(text, "## 2. rollback: applied → pending")
    assert "migrator rollback plans/ir-07.yaml" in back
    assert back.index("**1. undo announce**") < back.index("**2. undo Fix A**")
    assert "Restore the policy exactly as it was before" in back
    apply = section(text, "## 1. apply: pending → applied")
    assert "migrator apply plans/ir-07.yaml\n" in apply  # a hotfix needs no --to
    assert 'CREATE POLICY "Service role can manage profiles" ON "public"."profiles"' in apply
    assert "expect `'allowed'`" in apply or "expect `allowed`" in apply


def test_html_is_a_standalone_page_that_never_interprets_plan_text(registry: Any) -> None:
    plan = load_plan_text(HOTFIX, "plans/ir-07.yaml", registry)
    doc = runbook(plan, registry)
    page = html_page(markdown(doc), "Runbook: ir-07", diagram=runbook_svg(doc))
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Runbook: ir-07</title>" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<table>" in page and "<td><code>apply</code></td>" in page


def test_the_html_page_works_offline_on_a_phone_and_on_paper(registry: Any) -> None:
    plan = load_plan_text(SCORING, "plans/scoring-results.yaml", registry)
    doc = runbook(plan, registry)
    page = html_page(markdown(doc), "Runbook", diagram=runbook_svg(doc))
    assert "<script" not in page.lower()
    # nothing fetched: no src, no stylesheet link, and a policy that allows no fetch
    assert not re.search(r"\b(src|href)\s*=", page, re.I)
    assert not re.search(r"url\((?!#)", page)
    assert "default-src 'none'" in page
    # the diagram drawn inline, where the Markdown had it; its Mermaid source beside it
    figure = page[page.index('<figure class="diagram">') :]
    assert figure.index('<svg class="phase-diagram"') < figure.index("</figure>")
    assert "<summary>Mermaid source</summary>" in page
    assert "stateDiagram-v2" in page
    assert page.index("<h2>Phases and transitions</h2>") < page.index("<svg")
    # a phone: the viewport, wide tables scrolling in their box
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert page.count('<div class="table-scroll">\n<table>') == page.count("<table>") > 0
    assert ":not(pre) > code { overflow-wrap: anywhere; }" in page  # a checksum, a long name
    # paper: code wrapped, not cut
    printed = page[page.index("@media print") :]
    assert "white-space: pre-wrap" in printed and "break-inside: avoid" in printed


def test_without_a_drawing_the_diagram_stays_text(registry: Any) -> None:
    doc = runbook(load_plan_text(HOTFIX, "plans/ir-07.yaml", registry), registry)
    page = html_page(markdown(doc), "x")
    assert "<svg" not in page and "<script" not in page
    assert "<pre><code>---\ntitle: ir-07\n---\nstateDiagram-v2" in page


def test_markdown_special_characters_in_names_stay_literal(registry: Any) -> None:
    text = markdown(
        runbook(
            load_plan_text(
                "plan: odd\nkind: hotfix\nsteps:\n"
                "  - name: '*bold* | [link](x) `tick`'\n"
                '    sql: "select 1 /*\\n```\\n*/"\n',
                "odd.yaml",
                registry,
            ),
            registry,
        )
    )
    assert "**1. \\*bold\\* \\| \\[link\\](x) \\`tick\\`** (`sql`)" in text
    assert "````sql\nselect 1 /*\n```\n*/\n````" in text


def test_code_spans_and_fences_hold_any_backticks() -> None:
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("a|b", in_table=True) == "`a\\|b`"
    assert fence("x\n```\ny", "sql") == "````sql\nx\n```\ny\n````"
