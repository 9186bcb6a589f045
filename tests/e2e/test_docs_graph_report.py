"""`migrator docs`, `graph` and `report` through the command line, against a real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli as run

PLAN = """\
plan: widgets
vars: {owner: ops}
phases: [before, after]
transitions:
  - name: add_widgets
    from: before
    to: after
    risk: high
    approval: true
    pre_checks:
      - name: no widgets table yet
        query: select count(*) from pg_tables where tablename = 'widgets'
        expect: 0
    steps:
      - name: create the table
        sql: create table widgets (id int primary key, owner text)
        rollback: {sql: drop table widgets}
      - name: seed it
        sql: insert into widgets values (1, :owner)
        rollback: {sql: delete from widgets}
      - name: feature on
        flag: {name: WIDGETS, value: true}
    post_checks:
      - name: enough widgets
        query: select count(*) from widgets
        expect: ">= 2"
"""


@pytest.fixture
def no_database_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("MIGRATOR_DSN", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- docs ---------------------------------------------------------------------------------------


def test_docs_prints_the_runbook_without_a_database(
    write_plan: Any, capsys: pytest.CaptureFixture[str], no_database_named: Path
) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    code, out, _ = run(capsys, "docs", plan)
    assert code == 0
    assert out.startswith("# Runbook: widgets\n")
    assert "insert into widgets values (1, :owner)" in out
    assert "**Approval:** required" in out
    assert not (no_database_named / ".migrator").exists()  # no embedded server for docs


def test_docs_html_and_json(write_plan: Any, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    code, page, _ = run(capsys, "docs", plan, "--output", "html")
    assert code == 0 and page.startswith("<!DOCTYPE html>")
    assert "<code>:owner</code>" in page
    code, out, _ = run(capsys, "docs", plan, "--output", "json")
    document = json.loads(out)
    assert code == 0
    assert [t["name"] for t in document["transitions"]] == ["add_widgets"]
    assert document["transitions"][0]["steps"][1]["describe"] == (
        "insert into widgets values (1, :owner)"
    )


def test_docs_out_writes_a_runbook_and_a_diagram_per_plan(
    write_plan: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one = write_plan(PLAN, "widgets.yaml")
    two = write_plan("plan: fix\nkind: hotfix\nsteps: [{sql: select 1}]\n", "fix.yaml")
    out_dir = tmp_path / "site"
    code, out, _ = run(capsys, "docs", one, two, "--out", out_dir)
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "fix.md",
        "fix.mmd",
        "widgets.md",
        "widgets.mmd",
    ]
    assert f"wrote {out_dir / 'widgets.md'}" in out
    assert (out_dir / "fix.mmd").read_text() in (out_dir / "fix.md").read_text()


def test_docs_of_several_plans_needs_out(
    write_plan: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write_plan(PLAN, "widgets.yaml")
    code, _, err = run(capsys, "docs", one, one)
    assert code == 2
    assert "--out DIR" in err


def test_docs_of_an_invalid_plan_points_into_it(
    write_plan: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(PLAN.replace("risk: high", "risk: extreme"), "widgets.yaml")
    code, out, err = run(capsys, "docs", plan)
    assert code == 2
    assert out == ""
    assert f"{plan}:8:11: transitions[0].risk: must be 'low', 'medium' or 'high'" in err


# -- graph --------------------------------------------------------------------------------------


def test_graph_without_a_database_is_just_the_diagram(
    write_plan: Any, capsys: pytest.CaptureFixture[str], no_database_named: Path
) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    code, out, err = run(capsys, "graph", plan)
    assert code == 0
    assert out.startswith("---\ntitle: widgets\n---\nstateDiagram-v2\n")
    assert "before --> after: add_widgets (risk high, needs approval)" in out
    assert "s_active\n" not in out.replace("classDef s_active", "")
    assert err == ""
    assert not (no_database_named / ".migrator").exists()  # the embedded server stays off


def test_graph_highlights_the_phase_the_database_says(
    migrator: Any, write_plan: Any, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(PLAN.replace('">= 2"', '">= 1"'), "widgets.yaml")
    code, out, _ = run(capsys, "graph", plan, "--dsn", database)
    assert code == 0 and "Class before s_active" in out
    assert migrator("apply", plan, "--to", "after", "--yes").code == 0
    code, out, _ = run(capsys, "graph", plan, "--dsn", database, "--output", "json")
    document = json.loads(out)
    assert (code, document["phase"]) == (0, "after")
    assert "Class after s_active" in document["mermaid"]
    assert "Class before s_default" in document["mermaid"]


def test_graph_reads_migrator_dsn(
    write_plan: Any, database: str, capsys: pytest.CaptureFixture[str], sql: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    plan = write_plan(PLAN, "widgets.yaml")
    monkeypatch.setenv("MIGRATOR_DSN", database)
    code, out, _ = run(capsys, "graph", plan)
    assert code == 0 and "Class before s_active" in out
    assert sql("select to_regnamespace('migrator')") == [(None,)]  # read, never written


def test_graph_with_an_unreachable_database_says_so_and_draws_anyway(
    write_plan: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    dsn = "postgresql://ops:hunter2secret@127.0.0.1:1/prod"
    code, out, err = run(capsys, "graph", plan, "--dsn", dsn)
    assert code == 0
    assert "stateDiagram-v2" in out and "s_active\n" not in out.replace("classDef s_active", "")
    assert "cannot reach the database at postgresql://ops:***@127.0.0.1:1/prod" in err
    assert "no current phase" in err
    assert "hunter2secret" not in out + err


# -- report -------------------------------------------------------------------------------------


def test_report_of_a_run_undone_by_a_failed_post_check(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    applied = migrator("apply", plan, "--to", "after", "--yes", "--operator", "carol")
    assert applied.code == 1
    run_id = sql("select id from migrator.runs")[0][0]

    shown = migrator("report", str(run_id))

    assert shown.code == 0, shown.err
    text = shown.out
    assert text.startswith(f"# Run {run_id}: widgets, add\\_widgets\n")
    assert "**Outcome:** undone: what the run did was taken back" in text
    assert "| post | enough widgets | **failed** | `1` | `>= 2` | 1 |" in text
    assert "| pre | no widgets table yet | **passed** | `0` | `0` | 1 |" in text
    assert "- **approved** by carol via `--yes` at " in text
    assert "(risk high)" in text
    undone = text[text.index("## What was undone") : text.index("## Timeline")]
    assert [
        line.split(":")[0] for line in undone.splitlines() if line[:2] in ("1.", "2.", "3.")
    ] == [
        "1. feature on",
        "2. seed it",
        "3. create the table",
    ]
    assert "```\ndrop table widgets\n```" in undone  # what undoing it ran
    assert "| create the table | `sql` | **done** | 1 |" in text
    assert "run undoing → undone: a post-check failed" in text  # the timeline


def test_report_json_is_the_same_evidence(migrator: Any, write_plan: Any, sql: Any) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    assert migrator("apply", plan, "--to", "after", "--yes", "--operator", "carol").code == 1
    run_id = sql("select id from migrator.runs")[0][0]

    shown = migrator("report", str(run_id), "--output", "json")

    document = json.loads(shown.out)
    assert shown.code == 0
    assert document["run"]["status"] == "undone"
    failed = [c for c in document["checks"] if c["status"] == "failed"]
    assert [(c["name"], c["actual"], c["expected"]) for c in failed] == [
        ("enough widgets", 1, ">= 2")
    ]
    assert [(a["status"], a["operator"], a["via"]) for a in document["approvals"]] == [
        ("approved", "carol", "--yes")
    ]
    assert [(u["step"], u["status"]) for u in document["undone"]] == [
        ("feature on", "done"),
        ("seed it", "done"),
        ("create the table", "done"),
    ]
    assert all(isinstance(s["seconds"], float) for s in document["steps"])
    offsets = [m["offset_seconds"] for m in document["timeline"]]
    assert offsets == sorted(offsets)


def test_report_links_a_rollback_to_the_run_it_took_back(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(PLAN.replace('">= 2"', '">= 1"'), "widgets.yaml")
    assert migrator("apply", plan, "--to", "after", "--yes").code == 0
    assert migrator("rollback", plan, "--yes").code == 0  # asked as apply was
    first, second = (r[0] for r in sql("select id from migrator.runs order by id"))

    original = migrator("report", str(first)).out
    back = migrator("report", str(second)).out

    assert f"- **Taken back by:** run {second} (`revert add_widgets`" in original
    assert f"- **Takes back:** run {first} (`add_widgets`, succeeded)" in back
    assert "| undo feature on | `undo:flag` | **done** |" in back


def test_report_of_an_unknown_run_is_exit_2_and_writes_nothing(migrator: Any, sql: Any) -> None:
    shown = migrator("report", "42")
    assert shown.code == 2
    assert "no run 42 in this database" in shown.err
    assert sql("select to_regnamespace('migrator')") == [(None,)]


def test_report_never_shows_the_dsn_password(
    write_plan: Any, database: str, capsys: pytest.CaptureFixture[str], sql: Any
) -> None:
    plan = write_plan(PLAN, "widgets.yaml")
    # The test server trusts local connections: any password gets in, and must never show.
    base, _, query = database.partition("?")
    scheme, rest = base.split("://", 1)
    secret_dsn = f"{scheme}://postgres:pa55-w0rd-xyz@{rest.split('@')[-1]}" + (
        f"?{query}" if query else ""
    )
    code, _, _ = run(capsys, "apply", plan, "--to", "after", "--yes", "--dsn", secret_dsn)
    assert code == 1
    code, out, err = run(capsys, "report", "1", "--dsn", secret_dsn)
    assert code == 0
    assert "pa55-w0rd-xyz" not in out + err
    events = sql("select string_agg(detail::text, ' ') from migrator.events")[0][0]
    assert "pa55-w0rd-xyz" not in events
