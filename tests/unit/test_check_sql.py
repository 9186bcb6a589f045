"""The rules on check SQL (migrator.db.checksql): read as words from the project's lexer,
so what a check may not send is refused wherever it hides, and `commit` in a string, a
comment, a quoted identifier or a dollar quote is text."""

from __future__ import annotations

import pytest

from migrator.db.checksql import sql_problems
from migrator.plan.loader import check_plan
from tests.plans import hotfix, phased

REFUSED = [
    "select 0; commit; drop table x; commit; select 0",
    "lock table accounts in access exclusive mode",
    "select pg_stat_reset_shared('bgwriter')",
    "select count(*) from ts_stat('select to_tsvector(1::text)')",
    "set standard_conforming_strings to off",
    "select set_config('backslash_quote', 'on', true)",
    "select 1; COMMIT",
    "end",
    "END WORK",
    "abort",
    "begin",
    "start transaction read write",
    "savepoint a",
    "release savepoint a",
    "rollback",
    "rollback to savepoint a",
    "prepare transaction 'x'",
    "commit prepared 'x'",
    "rollback prepared 'x'",
    "call p()",
    "do $$begin commit; end$$",
    "DO LANGUAGE plpgsql 'begin null; end'",
    "copy (select 1) to program 'touch /tmp/x'",
    "copy t to stdout",
    "select pg_advisory_lock(1)",
    "select pg_try_advisory_lock(1)",
    "select pg_advisory_lock_shared(1)",
    "select pg_catalog.PG_TRY_ADVISORY_LOCK_SHARED (1)",
    'select "pg_advisory_lock"(1)',
    "select pg_advisory_lock/* a comment */(1)",
    "select pg_advisory_unlock_all()",
    "select set_config('role', 'postgres', false)",
    "select set_config('ROLE', 'x', true)",
    "select set_config('session_authorization', 'postgres', false)",
    "select set_config('default_transaction_read_only', 'off', false)",
    "select set_config(chr(114) || 'ole', 'postgres', false)",
    "set role postgres",
    "set local role x",
    "set session role x",
    'set "role" to postgres',
    "reset role",
    "set session authorization postgres",
    "set session authorization default",
    "reset session authorization",
    "reset all",
    "set session characteristics as transaction read write",
    "set transaction read write",
    "set default_transaction_read_only = off",
    "set local transaction_read_only to off",
    "reset default_transaction_read_only",
    "select dblink_exec('dbname=x', 'drop table t')",
    "select * from dblink('dbname=x', 'select 1') as t(a int)",
    "select pg_terminate_backend(1)",
    "select pg_cancel_backend(1)",
    "select lo_export(1, '/tmp/x')",
    "select lo_import('/etc/passwd')",
    "select nextval('s')",
    "select setval('s', 1)",
    "discard all",
    "load 'auto_explain'",
    "with x as (select 1) select pg_advisory_lock(1) from x",
    "select 1 /* a */ ; /* b */ commit",
    "select 1 -- a comment\n; end",
]

ALLOWED = [
    "select 'commit'",
    "select 'a; commit; drop table x'",
    "select 1 -- ; commit",
    "select 1 /* ; commit; /* nested */ drop table x; */",
    'select "commit" from t',
    'select "end"; select 1',
    "select $$; commit$$",
    "select $x$ ; end; $x$",
    "select E'\\'; commit'",
    "select count(*) from t where state = 'end'",
    "select pg_advisory_xact_lock(1)",
    "select set_config('request.jwt.claims', '{}', true)",
    "set local search_path = app",
    "set time zone 'UTC'",
    "select end_date, commit_ts, begin_at from t",
    "with begin as (select 1) select * from begin",
    "select nextval_of(1)",
    "select current_setting('role')",
    "select x.copy from t x",
    "select :commit",
    "select 1::text",
    "delete from t where id = 1 returning id",
    "insert into t values (1)",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_what_a_check_may_not_send_is_refused(sql: str) -> None:
    assert sql_problems(sql), sql


@pytest.mark.parametrize("sql", ALLOWED)
def test_commit_as_text_and_ordinary_sql_pass(sql: str) -> None:
    assert sql_problems(sql) == []


def test_the_problem_names_the_statement_and_why() -> None:
    (problem,) = sql_problems("select 0; commit; select 1")
    assert problem.startswith("statement 2: COMMIT controls the transaction")


def _errors(tmp_path, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    _plan, problems = check_plan(path)
    return [str(p) for p in problems if p.severity == "error"]


def test_validate_points_at_the_file_line_and_field_of_every_sql_a_check_sends(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    text = phased(
        "hostile",
        ["{sql: select 1}"],
        pre_checks=[
            "name: commits\nquery: select 0; commit; drop table x\nexpect: 0",
            "name: equal\nquery: select 1\nexpect: {equals_query: 'select pg_advisory_lock(1)'}",
        ],
        post_checks=[
            "name: probe\nrls_probe: {as_role: anon, sql: \"select set_config('role', 'x', true)\"}"
            "\nexpect: allowed",
        ],
    )
    errors = _errors(tmp_path, text)
    lines = text.splitlines()
    assert len(errors) == 3, errors
    where = {e.split(": ")[1]: e for e in errors}
    commit = where["transitions[0].pre_checks[0].query"]
    line = int(commit.split(":")[1])
    assert "query: select 0; commit" in lines[line - 1]
    assert "check 'commits' may not send this SQL: statement 2: COMMIT" in commit
    assert "pg_advisory_lock" in where["transitions[0].pre_checks[1].expect.equals_query"]
    assert "set_config('role'" in where["transitions[0].post_checks[0].rls_probe.sql"]


def test_a_hotfix_check_is_held_to_the_same_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = hotfix("h", ["{sql: select 1}"], pre_checks=["{query: 'do $$begin end$$', expect: 1}"])
    (error,) = _errors(tmp_path, text)
    assert "pre_checks[0].query: check 'query #1' may not send this SQL: statement 1: a DO" in error


def test_legitimate_check_sql_validates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = phased(
        "fine",
        ["{sql: 'begin; commit'}"],  # a step may: only checks are held to the rules
        pre_checks=["{query: \"select count(*) from t where s = 'commit' -- ; end\", expect: 0}"],
    )
    assert _errors(tmp_path, text) == []


def test_a_probe_only_reads_or_writes_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A probe that could define code (CREATE FUNCTION switching role inside one
    statement, a review's find) is refused: a probe reads or writes rows."""
    text = phased(
        "probing",
        ["{sql: select 1}"],
        pre_checks=[
            "name: probe\nrls_probe: {as_role: anon, sql: 'create function pg_temp.f() "
            "returns int language sql as $$select 1$$; select pg_temp.f()'}\nexpect: allowed",
        ],
    )
    (error,) = _errors(tmp_path, text)
    assert "statement 1 begins with 'CREATE': a probe reads or writes rows" in error
