"""policy_exists compares expressions by PostgreSQL: pairs of (plan's text, policy as
created) that must match and pairs that must not, on the server of the test session,
read as a check reads them (READ ONLY, REPEATABLE READ, under the check's guard), as a
superuser and as a role that row level security applies to; hostile text refused
unsent; no lock a writer waits on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.db.checksql import GUARD_KEY, CheckGuard, CheckSqlRefused
from migrator_policy.compare import ExpressionError, compare
from tests.checking import as_a_check, connection_to, with_policies
from tests.processes import sigkill, spawn, wait_for

SCHEMA = """
create table members (org_id int, user_id uuid, role text);
create table docs (
  id bigint primary key, org_id int, owner uuid, status text, title varchar(40),
  created_at timestamptz, tags text[], data jsonb
);
grant select on members, docs to authenticated;
alter table docs enable row level security;
alter table docs force row level security;
"""

# (the plan's text, the policy's USING as it was created): PostgreSQL makes the same of both
MATCH = [
    ("status = 'draft' and org_id = 7", "status = 'draft' and org_id = 7"),
    ("status = 'draft' and org_id = 7", "((status = 'draft'::text) AND (org_id = 7))"),
    ("status in ('draft', 'review')", "status = any (array['draft', 'review'])"),
    ("status IN ('draft','review')", "status in ('draft', 'review')"),
    ("coalesce(status, 'draft') <> 'gone'", "COALESCE(status, 'draft'::text) <> 'gone'::text"),
    ("created_at > now() - interval '7 days'", "created_at > (now() - '7 days'::interval)"),
    ("title = 'x'", "(title)::text = 'x'::text"),
    ("auth.uid() = owner", "auth.uid() = owner"),
    ("owner = auth.uid()", "(owner = auth.uid())"),
    ("owner::text = auth.jwt() ->> 'sub'", "((owner)::text = (auth.jwt() ->> 'sub'::text))"),
    ("docs.org_id = 7", "org_id = 7"),
    ("org_id = 3 + 4", "org_id = 7"),  # constants folded on both sides
    (
        "(status = 'a' and org_id = 1) and owner is null",
        "status = 'a' and (org_id = 1 and owner is null)",
    ),
    ("tags @> array['x']", "tags @> ARRAY['x'::text]"),
    ("data ->> 'k' = 'v'", "(data ->> 'k'::text) = 'v'::text"),
    ("true", "true"),
    (
        "org_id in (select m.org_id from members m where m.user_id = auth.uid())",
        "org_id IN (SELECT m.org_id FROM members m WHERE (m.user_id = auth.uid()))",
    ),
    (
        "exists (select 1 from members m where m.org_id = docs.org_id and m.user_id = auth.uid())",
        "EXISTS ( SELECT 1 FROM members m WHERE m.org_id = docs.org_id AND m.user_id = auth.uid())",
    ),
]

# (the plan's text, the policy's USING as it was created): different expressions
DIFFER = [
    ("status = 'draft' and org_id = 7", "status = 'draft' and org_id = 8"),
    ("status = 'draft' and org_id = 7", "org_id = 7 and status = 'draft'"),  # order kept
    ("auth.uid() = owner", "owner = auth.uid()"),
    ("status in ('draft', 'review')", "status in ('draft', 'reviewed')"),
    ("coalesce(status, 'draft') <> 'gone'", "coalesce(status, 'draft') = 'gone'"),
    ("created_at > now() - interval '7 days'", "created_at > now() - interval '8 days'"),
    ("true", "false"),
    ("owner = auth.uid()", "owner = auth.uid() or auth.role() = 'service_role'"),
    ("docs.org_id = 7", "docs.id = 7"),
    (
        "org_id in (select m.org_id from members m where m.user_id = auth.uid())",
        "org_id in (select m.org_id from members m where m.user_id = auth.uid() "
        "and m.role = 'admin')",
    ),
    (  # both print as EXISTS(SubPlan 1): told apart by what the SubPlan reads
        "exists (select 1 from members m where m.org_id = docs.org_id)",
        "exists (select 1 from members m where m.org_id = docs.id)",
    ),
    (
        "exists (select 1 from members m where m.org_id = docs.org_id)",
        "exists (select 1 from members m where m.org_id = docs.org_id and m.role = 'x')",
    ),
]

HOSTILE = [
    "true) or (select pg_sleep(1)",
    "1; drop table members",
    "true); drop table members; select (true",
    "select true",
    "(select true) union (select false)",
    "true, (select pg_sleep(1))",
    "true -- ",
    "owner = :who",
]


@pytest.fixture
def docs(database: str) -> str:
    return with_policies(database, SCHEMA, MATCH + DIFFER)


@pytest.fixture
def connection(docs: str) -> Iterator[Connection]:
    with connection_to(docs) as conn:
        yield conn


def deparsed(conn: Connection, number: int) -> str:
    return str(
        conn.execute(
            text("select pg_get_expr(polqual, polrelid) from pg_policy where polname = :n"),
            {"n": f"p{number}"},
        ).scalar_one()
    )


@pytest.mark.parametrize(
    ("role", "query_ids"),
    [(None, False), ("authenticated", False), (None, True)],
    ids=["superuser", "under-rls", "with-query-ids"],
)
def test_equal_expressions_match_and_different_ones_never_do(
    connection: Connection, role: str | None, query_ids: bool
) -> None:
    def verdicts(conn: Connection) -> list[tuple[str, str, Any]]:
        if query_ids:  # as with pg_stat_statements loaded: EXPLAIN VERBOSE shows one
            conn.execute(text("set local compute_query_id = on"))
        return [
            (plan, created, compare(conn, "public", "docs", plan, deparsed(conn, number)))
            for number, (plan, created) in enumerate(MATCH + DIFFER)
        ]

    found = as_a_check(connection, role, verdicts)
    wrong_match = [(p, c) for p, c, differ in found[: len(MATCH)] if differ is not None]
    wrong_differ = [(p, c) for p, c, differ in found[len(MATCH) :] if differ is None]
    assert wrong_match == []
    assert wrong_differ == []
    for _, _, differ in found[len(MATCH) :]:
        assert differ[0].shown != differ[1].shown  # an operator sees what differs


def test_the_difference_shows_both_forms_with_their_subplans(connection: Connection) -> None:
    number = len(MATCH) + 10  # the two EXISTS that print alike
    plan = DIFFER[10][0]
    differ = as_a_check(
        connection,
        None,
        lambda conn: compare(conn, "public", "docs", plan, deparsed(conn, number)),
    )
    assert differ is not None
    wanted, have = differ
    # EXISTS(SubPlan 1) on 17 and later, (SubPlan 1) before: alike on both sides
    # the alias `m` shown as the relation's name (aliases are the writer's choice)
    assert " where SubPlan 1: Seq Scan on public.members members (Filter: " in wanted.shown
    # the outer column qualified or not, as the major prints it
    assert re.search(r"\(Filter: \(members\.org_id = (docs\.)?org_id\)\)$", wanted.shown)
    assert re.search(r"\(Filter: \(members\.org_id = (docs\.)?id\)\)$", have.shown)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_refused_and_never_sent(connection: Connection, hostile: str) -> None:
    def attempt(conn: Connection) -> str:
        with pytest.raises(ExpressionError) as refused:
            compare(conn, "public", "docs", hostile, "true")
        # nothing was sent: the transaction is not aborted, every table still there
        assert conn.execute(text("select count(*) from members")).scalar() == 0
        return str(refused.value)

    assert as_a_check(connection, None, attempt).startswith("it is not one SQL expression (")


def test_the_plan_side_goes_through_the_checks_guard(connection: Connection) -> None:
    with connection.begin():
        connection.execute(text("set transaction read only"))
        guard = CheckGuard(str(connection.execute(text("select current_user")).scalar()), True)
        connection.info[GUARD_KEY] = guard
        try:
            with pytest.raises(CheckSqlRefused):
                compare(connection, "public", "docs", "pg_terminate_backend(id::int)", "true")
        finally:
            connection.info.pop(GUARD_KEY, None)
    assert guard.violation is not None
    assert "pg_terminate_backend" in guard.violation


def test_text_the_server_cannot_read_is_named(connection: Connection) -> None:
    def attempt(conn: Connection) -> str:
        with pytest.raises(ExpressionError) as refused:
            compare(conn, "public", "docs", "colour = 'red'", "true")
        return str(refused.value)

    message = as_a_check(connection, None, attempt)
    assert message.startswith("PostgreSQL cannot read it over the table: column")
    assert "colour" in message


POLICY_PLAN = """\
plan: {name}
kind: hotfix
pre_checks:
  - policy_exists:
      table: docs
      name: members read
      using: {using}
steps: [{{sql: select 1}}]
"""

MEMBERS_READ = (
    'create policy "members read" on docs for select to authenticated using '
    "(org_id in (select m.org_id from members m where m.user_id = auth.uid()) "
    "and status <> 'draft')"
)


def check_detail(sql: Any) -> str:
    return str(sql("select detail->>'detail' from migrator.events where kind = 'check'")[0][0])


def test_policy_exists_passes_on_the_same_expression_and_names_a_difference(
    migrator: Any, write_plan: Any, sql: Any, docs: str
) -> None:
    sql(MEMBERS_READ)
    same = (
        "org_id IN (SELECT m.org_id FROM members m WHERE m.user_id = auth.uid()) "
        "AND status <> 'draft'"
    )
    result = migrator("apply", write_plan(POLICY_PLAN.format(name="same", using=f'"{same}"')))
    assert result.code == 0, result.out
    other = same.replace("<> 'draft'", "<> 'drafts'")
    result = migrator(
        "apply", write_plan(POLICY_PLAN.format(name="other", using=f'"{other}"'), "other.yaml")
    )
    assert result.code == 1, result.out
    detail = sql(
        "select detail->>'detail' from migrator.events where kind = 'check' order by id desc"
    )[0][0]
    assert detail.startswith("using differs: the policy's is ")
    # the policy's first, then the plan's; columns qualified or not, as the major prints them
    assert re.search(r"is .*\((docs\.)?status <> 'draft'::text\).* the plan's is ", detail)
    assert re.search(r"the plan's is .*\((docs\.)?status <> 'drafts'::text\)", detail)
    assert detail.endswith("(both as PostgreSQL reads them)")


def test_a_hostile_expected_expression_is_refused_before_anything_runs(
    migrator: Any, write_plan: Any, sql: Any, docs: str
) -> None:
    plan = write_plan(POLICY_PLAN.format(name="same", using='"true) or (select pg_sleep(1)"'))
    result = migrator("validate", plan)
    assert result.code == 2, result.out + result.err
    assert "not one SQL expression: a `)` closes more than it opened" in result.out + result.err


def test_validate_holds_the_expected_expressions_to_the_check_sql_rules(
    migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(POLICY_PLAN.format(name="same", using='"pg_terminate_backend(id::int)"'))
    result = migrator("validate", plan)
    assert result.code == 2, result.out + result.err
    assert "may not send this SQL: statement 1: pg_terminate_backend" in result.out + result.err


def test_a_writer_holding_the_table_does_not_hold_the_check(
    migrator: Any, write_plan: Any, sql: Any, docs: str
) -> None:
    sql(MEMBERS_READ)
    same = (
        "org_id in (select m.org_id from members m where m.user_id = auth.uid()) "
        "and status <> 'draft'"
    )
    with psycopg.connect(docs) as writer:
        writer.execute("insert into docs (id, status) values (1, 'live')")  # RowExclusiveLock
        result = migrator("apply", write_plan(POLICY_PLAN.format(name="same", using=f'"{same}"')))
        held = writer.execute(
            "select mode from pg_locks where pid = pg_backend_pid() and relation = 'docs'::regclass"
        ).fetchall()
        assert held == [("RowExclusiveLock",)]
        writer.rollback()
    assert result.code == 0, result.out


WAITING = (
    "select a.xact_start from pg_locks l join pg_stat_activity a on a.pid = l.pid "
    "where l.relation = 'docs'::regclass and not l.granted"
)


def test_a_table_under_access_exclusive_makes_the_check_wait_its_lock_wait_and_name_it(
    write_plan: Any, sql: Any, docs: str
) -> None:
    sql(MEMBERS_READ)
    plan = write_plan(POLICY_PLAN.format(name="same", using="\"status <> 'draft'\""))
    with psycopg.connect(docs, application_name="the-blocker") as blocker:
        blocker.execute("lock table docs in access exclusive mode")
        proc = spawn("apply", plan, "--dsn", docs)
        try:
            wait_for(lambda: bool(sql(WAITING)), proc=proc)
            (first,) = sql(WAITING)[0]
            # the first look gave up at its lock wait, and a later one waits now
            wait_for(lambda: any(s != first for (s,) in sql(WAITING)), timeout=30, proc=proc)
            out, err = proc.communicate(timeout=120)
        finally:
            sigkill(proc)
    assert proc.returncode == 1, out + err
    detail = check_detail(sql)
    assert "lock timeout — blocked by pid" in detail
    assert "the-blocker" in detail
