"""The engine against real PostgreSQL: every exit code, undo in reverse, approvals, checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.plans import hotfix, phased
from tests.processes import spawn, wait_for

# A plan whose steps leave traces we can count: each step appends to `ran`, each undo
# appends to `undone`. `:fail_at` makes a step fail on purpose.
TRACE_PLAN = """\
plan: trace
vars: {nap: 0}
phases: [start, done]
transitions:
  - name: forward
    from: start
    to: done
    pre_checks:
      - name: tables exist
        query: select count(*) from pg_tables where tablename in ('ran', 'undone')
        expect: 2
    steps:
      - name: one
        sql: insert into ran values ('one')
        rollback: {sql: "insert into undone values ('one')"}
      - name: two
        sql: insert into ran values ('two')
        rollback: {sql: "insert into undone values ('two')"}
      - name: three
        flag: {name: TRACE, value: true}
    post_checks:
      - name: rows arrived
        query: select count(*) from ran
        expect: ">= 3"
  - name: backward
    from: done
    to: start
    steps:
      - sql: delete from ran
    post_checks:
      - query: select count(*) from ran
        expect: 0
"""


def events(sql: Any, plan: str = "trace") -> list[tuple[Any, ...]]:
    return sql(
        "select e.kind, e.status, e.step from migrator.events e "
        "join migrator.runs r on r.id = e.run_id where r.plan = %s order by e.id",
        plan,
    )


def phase(sql: Any, plan: str = "trace") -> str | None:
    rows = sql("select phase from migrator.plan_state where plan = %s", plan)
    return str(rows[0][0]) if rows else None


def test_apply_moves_the_plan_and_records_every_step(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(TRACE_PLAN.replace('">= 3"', '">= 2"'))
    result = migrator("apply", plan, "--to", "done")
    assert result.code == 0, result.out + result.err
    assert phase(sql) == "done"
    assert sql("select step from ran order by at") == [("one",), ("two",)]
    assert sql("select value from migrator.flags where name = 'TRACE'") == [(True,)]
    done = [e[2] for e in events(sql) if e[:2] == ("step", "done")]
    assert done == ["one", "two", "three"]
    run = sql("select status, from_phase, to_phase, operator from migrator.runs")
    assert run[0][:3] == ("succeeded", "start", "done")


def test_already_in_the_phase_does_nothing(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(TRACE_PLAN.replace('">= 3"', '">= 2"'))
    assert migrator("apply", plan, "--to", "done").code == 0
    again = migrator("apply", plan, "--to", "done")
    assert again.code == 0
    assert "already in phase 'done'" in again.out
    assert sql("select count(*) from migrator.runs") == [(1,)]


def test_failed_pre_check_applies_nothing_exit_1(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table ran (step text)")  # `undone` is missing: the pre-check fails
    plan = write_plan(TRACE_PLAN)
    result = migrator("apply", plan, "--to", "done")
    assert result.code == 1
    assert sql("select count(*) from ran") == [(0,)]
    assert sql("select status from migrator.runs") == [("failed",)]
    assert phase(sql) is None  # never moved: still the initial phase
    check = sql("select detail from migrator.events where kind = 'check'")[0][0]
    assert (check["actual"], check["expected"]) == (1, "2")


def test_all_pre_checks_are_evaluated_and_reported(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(
        phased(
            "many",
            ["{sql: select 1}"],
            pre_checks=[
                "{name: first, query: select 1, expect: 2}",
                "{name: second, query: select 1, expect: 1}",
                "{name: third, query: select 1, expect: 3}",
            ],
        )
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1
    checks = sql("select step, status from migrator.events where kind = 'check' order by id")
    assert checks == [("first", "failed"), ("second", "passed"), ("third", "failed")]


def test_failed_post_check_undoes_three_steps_in_reverse_order(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(TRACE_PLAN)  # expects 3 rows, gets 2: the post-check fails
    before_tables = sql("select tablename from pg_tables where schemaname = 'public' order by 1")
    result = migrator("apply", plan, "--to", "done")
    assert result.code == 1, result.out
    undo_order = [e[2] for e in events(sql) if e[:2] == ("undo", "done")]
    assert undo_order == ["three", "two", "one"]
    # the undo ran in reverse: the rollback SQL of two before that of one
    assert sql("select step from undone order by at") == [("two",), ("one",)]
    # the flag did not exist before, so the undo removed it again
    assert sql("select count(*) from migrator.flags where name = 'TRACE'") == [(0,)]
    assert phase(sql) is None
    assert sql("select status, error from migrator.runs") == [("undone", "a post-check failed")]
    after_tables = sql("select tablename from pg_tables where schemaname = 'public' order by 1")
    assert after_tables == before_tables


def test_flag_undo_restores_the_earlier_value(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    migrator("status", write_plan(TRACE_PLAN))  # reads only: creates nothing
    assert sql("select to_regnamespace('migrator')") == [(None,)]
    plan = write_plan(TRACE_PLAN)
    # Give the flag an earlier value through a successful one-step plan first.
    seed = write_plan(
        """\
        plan: seed
        phases: [a, b]
        transitions:
          - {name: set, from: a, to: b, steps: [{flag: {name: TRACE, value: {"mode": "old"}}}]}
        """,
        "seed.yaml",
    )
    assert migrator("apply", seed, "--to", "b").code == 0
    assert migrator("apply", plan, "--to", "done").code == 1
    assert sql("select value from migrator.flags where name = 'TRACE'") == [({"mode": "old"},)]


def test_failing_step_is_undone_and_reported(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(
        TRACE_PLAN.replace(
            "      - name: three\n        flag: {name: TRACE, value: true}\n",
            "      - name: three\n        sql: select 1/0\n",
        )
    )
    result = migrator("apply", plan, "--to", "done")
    assert result.code == 1
    assert "division by zero" in result.out
    assert sql("select step from undone order by at") == [("two",), ("one",)]
    failed = [e for e in events(sql) if e[:2] == ("step", "failed")]
    assert failed == [("step", "failed", "three")]


def test_undo_that_fails_is_exit_3_and_blocks_the_plan(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    broken = TRACE_PLAN.replace(
        "rollback: {sql: \"insert into undone values ('one')\"}",
        'rollback: {sql: "insert into no_such_table values (1)"}',
    )
    plan = write_plan(broken)
    result = migrator("apply", plan, "--to", "done")
    assert result.code == 3, result.out
    assert sql("select status from migrator.runs") == [("undo_failed",)]
    # two was undone, one could not be
    assert sql("select step from undone") == [("two",)]
    refused = migrator("apply", plan, "--to", "done")
    assert refused.code == 3
    assert "could not be undone" in refused.err
    assert sql("select count(*) from migrator.runs") == [(1,)]
    # Fix the cause, then resume retries the undo and settles the run.
    sql("create table no_such_table (x int)")
    settled = migrator("resume", plan)
    assert settled.code == 0, settled.out
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select count(*) from no_such_table") == [(1,)]
    assert sql("select step from undone") == [("two",)]  # not undone twice


def test_rollback_settles_an_undo_failed_run(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    broken = TRACE_PLAN.replace(
        "rollback: {sql: \"insert into undone values ('one')\"}",
        'rollback: {sql: "insert into later values (1)"}',
    )
    plan = write_plan(broken)
    assert migrator("apply", plan, "--to", "done").code == 3
    sql("create table later (x int)")
    assert migrator("rollback", plan).code == 0
    assert sql("select status from migrator.runs") == [("undone",)]


def test_rollback_takes_the_last_transition_back(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(TRACE_PLAN.replace('">= 3"', '">= 2"'))
    assert migrator("apply", plan, "--to", "done").code == 0
    result = migrator("rollback", plan)
    assert result.code == 0, result.out
    assert phase(sql) == "start"
    runs = sql("select id, transition, reverts from migrator.runs order by id")
    assert runs[1][1:] == ("backward", runs[0][0])
    again = migrator("rollback", plan)
    assert again.code == 0
    assert "nothing to roll back" in again.out
    assert sql("select count(*) from migrator.runs") == [(2,)]


def test_rollback_without_a_reverse_transition_undoes_the_steps(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    one_way = TRACE_PLAN.replace('">= 3"', '">= 2"').split("  - name: backward")[0]
    plan = write_plan(one_way)
    assert migrator("apply", plan, "--to", "done").code == 0
    result = migrator("rollback", plan)
    assert result.code == 0, result.out
    assert sql("select step from undone order by at") == [("two",), ("one",)]
    assert sql("select count(*) from migrator.flags where name = 'TRACE'") == [(0,)]
    assert phase(sql) == "start"


def test_hotfix_apply_and_rollback(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table notes (id int)")
    plan = write_plan(
        hotfix(
            "hotfix-x",
            [
                "name: index\n"
                "sql: create index notes_id on notes (id)\n"
                "rollback: {sql: drop index notes_id}",
                "name: flag\nflag: {name: HOTFIX_X, value: true}",
            ],
            post_checks=["flag_is: {name: HOTFIX_X, value: true}"],
        )
    )
    assert migrator("apply", plan).code == 0  # --to defaults to applied
    assert phase(sql, "hotfix-x") == "applied"
    assert sql("select count(*) from pg_indexes where indexname = 'notes_id'") == [(1,)]
    assert migrator("rollback", plan).code == 0
    assert phase(sql, "hotfix-x") == "pending"
    assert sql("select count(*) from pg_indexes where indexname = 'notes_id'") == [(0,)]
    assert sql("select count(*) from migrator.flags") == [(0,)]


def test_phased_plan_needs_to(migrator: Any, write_plan: Any, sql: Any, traced: None) -> None:
    result = migrator("apply", write_plan(TRACE_PLAN))
    assert result.code == 2
    assert "--to PHASE is required" in result.err


def test_no_path_and_unknown_phase_are_exit_2(migrator: Any, write_plan: Any, sql: Any) -> None:
    plan = write_plan(phased("oneway", ["{sql: select 1}"]))
    assert migrator("apply", plan, "--to", "b").code == 0
    back = migrator("apply", plan, "--to", "a")
    assert back.code == 2
    assert "no path of transitions from 'b' to 'a'" in back.err
    unknown = migrator("apply", plan, "--to", "zz")
    assert unknown.code == 2
    assert "phase 'zz' is not a phase of plan oneway" in unknown.err


def test_ambiguous_path_is_refused(migrator: Any, write_plan: Any, sql: Any) -> None:
    plan = write_plan(
        """\
        plan: diamond
        phases: [a, b, c, d]
        transitions:
          - {name: ab, from: a, to: b}
          - {name: ac, from: a, to: c}
          - {name: bd, from: b, to: d}
          - {name: cd, from: c, to: d}
        """
    )
    result = migrator("apply", plan, "--to", "d")
    assert result.code == 2
    assert "more than one shortest path" in result.err and "ab -> bd" in result.err
    assert sql("select to_regclass('migrator.runs') is not null") == [(True,)]
    assert sql("select count(*) from migrator.runs") == [(0,)]


def test_multi_step_path_runs_each_transition_as_its_own_run(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(
        """\
        plan: chain
        phases: [a, b, c]
        transitions:
          - {name: ab, from: a, to: b, steps: [{sql: create table t1 (x int)}]}
          - {name: bc, from: b, to: c, steps: [{sql: create table t2 (x int)}]}
        """
    )
    assert migrator("apply", plan, "--to", "c").code == 0
    runs = sql("select transition, status from migrator.runs order by id")
    assert runs == [("ab", "succeeded"), ("bc", "succeeded")]


class TestApproval:
    PLAN = """\
    plan: gated
    phases: [a, b]
    transitions:
      - name: cutover
        from: a
        to: b
        approval: true
        risk: high
        steps: [{sql: create table gated_t (x int)}]
        post_checks: [{query: select 1, expect: 1}]
    """

    def test_without_a_terminal_or_yes_nothing_is_applied(
        self, migrator: Any, write_plan: Any, sql: Any
    ) -> None:
        result = migrator("apply", write_plan(self.PLAN), "--to", "b")
        assert result.code == 1
        assert sql("select to_regclass('gated_t')") == [(None,)]
        approval = sql("select status, detail from migrator.events where kind = 'approval'")
        assert approval[0][0] == "declined"
        assert approval[0][1]["reason"] == "no terminal to ask on; pass --yes to approve"

    def test_yes_approves_and_records_who(self, migrator: Any, write_plan: Any, sql: Any) -> None:
        result = migrator("apply", write_plan(self.PLAN), "--to", "b", "--yes", "--operator", "ana")
        assert result.code == 0, result.out
        approval = sql("select status, detail, at from migrator.events where kind = 'approval'")
        assert approval[0][0] == "approved"
        assert approval[0][1] == {"operator": "ana", "via": "--yes", "risk": "high"}
        assert sql("select operator from migrator.runs") == [("ana",)]


class TestChecks:
    def test_warn_records_and_goes_on(self, migrator: Any, write_plan: Any, sql: Any) -> None:
        plan = write_plan(
            phased(
                "warny",
                ["{sql: create table w (x int)}"],
                pre_checks=[
                    "{name: confirms the broken state, query: select 5, expect: 0, on_fail: warn}"
                ],
            )
        )
        assert migrator("apply", plan, "--to", "b").code == 0
        assert sql("select status from migrator.events where kind = 'check'") == [("warned",)]

    def test_wait_polls_until_the_check_passes(
        self, database: str, write_plan: Any, sql: Any
    ) -> None:
        # A check changes nothing, so the data it waits for comes from another session: the
        # first look reads `queue` while this test holds it locked, and so waits; the row
        # this test then commits is not in that look's snapshot (taken by its first
        # statement), and is in the next one's: exactly two samples.
        sql("create table queue (id int)")
        plan = write_plan(
            phased(
                "waity",
                ["{sql: select 1}"],
                post_checks=[
                    "query: select count(*) from queue\n"
                    "expect: 1\n"
                    "wait: {timeout: 30s, interval: 100ms}"
                ],
            )
        )
        with psycopg.connect(database) as holder:
            holder.execute("lock table queue in access exclusive mode")
            proc = spawn("apply", plan, "--to", "b", "--dsn", database)
            wait_for(lambda: _waits_for(database, "queue"), proc=proc)
            holder.execute("insert into queue values (1)")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
        detail = sql("select detail from migrator.events where kind = 'check'")[0][0]
        assert detail["samples"] == 2

    def test_wait_gives_up_after_its_timeout(
        self, migrator: Any, write_plan: Any, sql: Any
    ) -> None:
        plan = write_plan(
            phased(
                "waity",
                ["{sql: select 1}"],
                post_checks=[
                    "{query: select 1, expect: 2, wait: {timeout: 400ms, interval: 100ms}}"
                ],
            )
        )
        assert migrator("apply", plan, "--to", "b").code == 1
        detail = sql("select detail from migrator.events where kind = 'check'")[0][0]
        assert "still failing after 0.4s" in detail["detail"]
        assert detail["samples"] >= 3

    def test_soak_fails_once_failures_exceed_the_limit(
        self, migrator: Any, write_plan: Any, sql: Any
    ) -> None:
        # fails at every sample: 1 failure allowed, the 2nd fails it (long before 3s)
        plan = write_plan(
            phased(
                "soaky",
                ["{sql: select 1}"],
                post_checks=[
                    "query: select false\n"
                    "expect: true\n"
                    "soak: {duration: 3s, interval: 50ms, failure_limit: 1}"
                ],
            )
        )
        assert migrator("apply", plan, "--to", "b").code == 1
        detail = sql("select detail from migrator.events where kind = 'check'")[0][0]
        assert detail["samples"] == 2
        assert detail["detail"].startswith("2 of 2 samples failed")

    def test_equals_query_reports_the_first_difference(
        self, migrator: Any, write_plan: Any, sql: Any
    ) -> None:
        sql("create table l (id int, v text); insert into l values (1, 'a'), (2, 'b')")
        sql("create table r (id int, v text); insert into r values (1, 'a'), (2, 'c')")
        plan = write_plan(
            phased(
                "parity",
                ["{sql: select 1}"],
                pre_checks=[
                    'query: select id, v from l\nexpect: {equals_query: "select id, v from r"}'
                ],
            )
        )
        result = migrator("apply", plan, "--to", "b")
        assert result.code == 1
        detail = sql("select detail from migrator.events where kind = 'check'")[0][0]
        assert "1 row only in the check's query; 1 row only in equals_query" in detail["detail"]
        assert detail["differences"] == [
            {
                "key": [{"name": "id", "value": 2}],
                "columns": [{"name": "v", "actual": "b", "expected": "c"}],
            }
        ]
        assert "\n      id 2: v b vs c\n" in result.out  # under the failed check, as data


def test_variables_are_bound_never_pasted(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql("create table people (name text)")
    plan = write_plan(
        """\
        plan: vars
        vars: {name: nobody}
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps: [{sql: "insert into people values (:name)"}]
            post_checks: [{query: "select count(*) from people where name = :name", expect: 1}]
        """
    )
    hostile = "'); drop table people; --"
    assert migrator("apply", plan, "--to", "b", "--var", f"name={hostile}").code == 0
    assert sql("select name from people") == [(hostile,)]


def test_unknown_var_is_exit_2(migrator: Any, write_plan: Any, sql: Any, traced: None) -> None:
    result = migrator("apply", write_plan(TRACE_PLAN), "--to", "done", "--var", "nope=1")
    assert result.code == 2
    assert "has no variable nope" in result.err


def test_unset_environment_variable_points_into_the_plan(
    migrator: Any, write_plan: Any, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIGRATOR_TEST_UNSET", raising=False)
    plan = write_plan(
        """\
        plan: envy
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            steps:
              - flag: {name: TOKEN, value: "${env:MIGRATOR_TEST_UNSET}"}
        """
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 2
    assert f"{plan}:8:36: transitions[0].steps[0].flag.value: environment variable " in result.err
    assert sql("select count(*) from migrator.runs") == [(0,)]


def test_invalid_plan_touches_nothing(migrator: Any, write_plan: Any, sql: Any) -> None:
    result = migrator("apply", write_plan("plan: x\nphases: [a]\n"), "--to", "a")
    assert result.code == 2
    assert sql("select to_regnamespace('migrator')") == [(None,)]


def test_unreachable_database_is_exit_5(write_plan: Any, capsys: Any) -> None:
    from migrator.cli import main

    plan = write_plan(TRACE_PLAN)
    code = main(["status", str(plan), "--dsn", "postgresql://ops:s3cr3tpw@127.0.0.1:9/x"])
    err = capsys.readouterr().err
    assert code == 5
    assert "s3cr3tpw" not in err and "postgresql://ops:***@127.0.0.1:9/x" in err


def test_json_output_is_one_document(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(TRACE_PLAN)
    result = migrator("apply", plan, "--to", "done", "--output", "json")
    document = json.loads(result.out)
    assert document["exit_code"] == result.code == 1
    assert document["phase"] == "start"
    assert [e["step"] for e in document["events"] if e["kind"] == "undo"] == [
        "three",
        "two",
        "one",
    ]


def test_log_format_json_writes_one_line_per_event(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(TRACE_PLAN.replace('">= 3"', '">= 2"'))
    result = migrator("apply", plan, "--to", "done", "--log-format", "json")
    lines = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    assert len(lines) == sql("select count(*) from migrator.events")[0][0]
    assert {line["plan"] for line in lines} == {"trace"}
    assert all("run_id" in line and "kind" in line for line in lines)


def test_status_and_history(migrator: Any, write_plan: Any, sql: Any, traced: None) -> None:
    plan = write_plan(TRACE_PLAN)
    migrator("apply", plan, "--to", "done")
    status = json.loads(migrator("status", plan, "--output", "json").out)
    assert status["phase"] == "start"
    assert status["lock"] == {"held": False, "holder": None}
    assert status["open_run"] is None
    assert status["runs"][0]["status"] == "undone"
    history = json.loads(migrator("history", plan, "--output", "json").out)
    kinds = [e["kind"] for e in history["runs"][0]["events"]]
    assert kinds.count("undo") == 3
    text = migrator("history", plan).out
    assert "undo" in text and "forward" in text


def test_plan_file_changed_since_the_run_is_refused_without_force(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    broken = TRACE_PLAN.replace(
        "rollback: {sql: \"insert into undone values ('one')\"}",
        'rollback: {sql: "insert into missing_t values (1)"}',
    )
    plan = write_plan(broken)
    assert migrator("apply", plan, "--to", "done").code == 3
    Path(plan).write_text(Path(plan).read_text() + "\n# edited\n")
    sql("create table missing_t (x int)")
    refused = migrator("resume", plan)
    assert refused.code == 2
    assert "changed since run" in refused.err
    assert migrator("resume", plan, "--force").code == 0


def _waits_for(dsn: str, table: str) -> bool:
    """Whether a session waits for a lock on `table`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select 1 from pg_locks where locktype = 'relation' "
            "and relation = to_regclass(%s) and not granted",
            (table,),
        ).fetchone()
    return row is not None
