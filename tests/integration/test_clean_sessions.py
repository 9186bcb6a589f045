"""Every step, undo and check starts from the same session state: a session-level SET in
a step ends with the step, so that a run does the same whether or not it was interrupted,
and an undo acts where its step did. `validate` warns about such a SET with nothing after it."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.conninfo import make_conninfo

from tests.plans import phased, sql_step

SEARCH_PATH = phased(
    "paths",
    [
        sql_step("use other", "set search_path to other"),
        sql_step("make widgets", "create table widgets (id int)", "drop table widgets"),
    ],
    post_checks=["{query: select current_schema(), expect: public}"],
)


def test_a_session_set_ends_with_its_step_and_the_undo_acts_where_its_step_did(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    sql("create schema other; create table widgets (id int); insert into widgets values (7)")
    plan = write_plan(SEARCH_PATH)
    applied = migrator("apply", plan, "--to", "b")
    # `make widgets` runs in schema public, as it would after an interruption: the table
    # is there already, so the run fails and is undone, and nothing lands in `other`
    assert applied.code == 1, applied.out + applied.err
    assert 'relation "widgets" already exists' in applied.out + applied.err
    assert sql("select to_regclass('other.widgets')") == [(None,)]
    assert sql("select id from public.widgets") == [(7,)]  # the application's table stays
    rolled = migrator("rollback", plan)
    assert rolled.code == 0, rolled.out + rolled.err
    assert sql("select id from public.widgets") == [(7,)]


def test_a_step_after_a_session_set_and_the_checks_start_clean(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    sql("create schema other; create table seen (step text, path text, who text)")
    record = "insert into public.seen select '{0}', current_setting('search_path'), current_user"
    plan = write_plan(
        phased(
            "clean",
            [
                sql_step("set them", "set search_path to other; set statement_timeout = 1"),
                sql_step("look", f'"{record.format("look")}"', '"delete from public.seen"'),
            ],
            post_checks=[
                "{query: select current_schema(), expect: public}",
                "{query: select current_setting('statement_timeout'), expect: '0'}",
            ],
        )
    )
    applied = migrator("apply", plan, "--to", "b")
    assert applied.code == 0, applied.out + applied.err
    (user,) = sql("select current_user")[0]
    assert sql("select step, path, who from seen") == [("look", '"$user", public', user)]


def test_validate_warns_about_a_session_set_where_it_is(migrator: Any, write_plan: Any) -> None:
    plan = write_plan(SEARCH_PATH)
    checked = migrator("validate", plan)
    assert checked.code == 0, checked.out + checked.err
    text = checked.out + checked.err
    assert f"{plan}:9:14: transitions[0].steps[0].sql: warning: " in text, text  # the SQL
    assert "`set search_path to other` changes nothing: no statement runs after it" in text
    before = write_plan(
        SEARCH_PATH.replace("set search_path to other", "set search_path to other; select 1"),
        "b.yaml",
    )
    quiet = migrator("validate", before)
    assert quiet.code == 0
    assert "[session-set]" not in quiet.out + quiet.err


def test_a_set_role_ends_with_its_step_for_a_role_that_is_not_a_superuser(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    """The reset needs no privilege: SET SESSION AUTHORIZATION DEFAULT goes back to the
    role that logged in, whoever that is."""
    login, other = f"deployer_{uuid.uuid4().hex[:8]}", f"owner_{uuid.uuid4().hex[:8]}"
    sql(f"create role {login} login; create role {other}; grant {other} to {login}")
    (name,) = sql("select current_database()")[0]
    sql(f'grant create on database "{name}" to {login}')
    sql(f"create table seen (who text); grant insert, select on seen to {login}, {other}")
    try:
        plan = write_plan(
            phased(
                "roles",
                [
                    sql_step("become the owner", f"set role {other}"),
                    sql_step("look", '"insert into seen select current_user"'),
                ],
                post_checks=["{query: select count(*) from seen, expect: 1}"],
            )
        )
        dsn = make_conninfo(database, user=login)
        applied = migrator("apply", plan, "--to", "b", "--dsn", dsn, dsn=False)
        assert applied.code == 0, applied.out + applied.err
        assert sql("select who from seen") == [(login,)]
    finally:
        sql(f"drop owned by {login}, {other}")
        sql(f"drop role {login}")
        sql(f"drop role {other}")


def test_a_temporary_table_ends_with_its_step(migrator: Any, sql: Any, write_plan: Any) -> None:
    """A temporary table of one step would take the place of the real table of the same
    name in the steps after it, but not after an interruption (a new session)."""
    sql("create table accounts (x int)")
    plan = write_plan(
        phased(
            "temps",
            [
                sql_step("scratch", "create temp table accounts (x int)"),
                sql_step("write", "insert into accounts values (42)", "delete from accounts"),
            ],
            post_checks=["{query: select count(*) from public.accounts, expect: 1}"],
        )
    )
    applied = migrator("apply", plan, "--to", "b")
    assert applied.code == 0, applied.out + applied.err
    assert sql("select x from public.accounts") == [(42,)]
