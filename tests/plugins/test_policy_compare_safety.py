"""policy_exists' comparison and the database's own code (a review of issue 18's part C):
the planner folds IMMUTABLE functions (it runs them), inlines and may run SQL ones, so a
policy's function is never run as migrator's role and never makes a check pass by being
folded; a subquery's alias is the writer's choice; a locking clause is refused unsent and
a comparison locks nothing a writer waits on; `$` inside an identifier is one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from migrator_policy.compare import ExpressionError, compare
from tests.checking import as_a_check, connection_to, with_policies

SCHEMA = """
create table members (org_id int, user_id uuid, role text);
create table docs (id bigint primary key, org_id int, owner uuid, status text, "a$b" int);
grant select on members, docs to authenticated;
alter table docs enable row level security;
alter table docs force row level security;
create function public.sql_true() returns boolean language sql immutable as 'select true';
create function public.later() returns boolean language plpgsql volatile
  as $f$ begin return true; end $f$;
create schema members;
create function members.is_admin() returns boolean language plpgsql volatile
  as $f$ begin return true; end $f$;
create function auth.is_admin() returns boolean language plpgsql volatile
  as $f$ begin return false; end $f$;
"""

# (the plan's text, the policy's USING as created): the same expression
MATCH = [
    (
        "org_id in (select org_id from members where user_id = auth.uid())",
        "org_id in (select m.org_id from members m where m.user_id = auth.uid())",
    ),
    (
        "exists (select 1 from members where members.org_id = docs.org_id)",
        "exists (select 1 from members m where m.org_id = docs.org_id)",
    ),
    (
        "exists (select 1 from members x where x.org_id = docs.org_id)",
        "exists (select 1 from members m where m.org_id = docs.org_id)",
    ),
    ("a$b = 1", '"a$b" = 1'),
    ('owner = auth."uid"()', "owner = auth.uid()"),  # a quoted name is the same name
    ("sql_true()", "sql_true()"),
    ("later()", "later()"),  # a VOLATILE function is never run by the planner
]

# different expressions, the aliases differing too
DIFFER = [
    (
        "org_id in (select org_id from members where user_id = auth.uid())",
        "org_id in (select m.org_id from members m where m.user_id = auth.uid() "
        "and m.role = 'admin')",
    ),
    (  # a constant that reads like an alias's name is a constant
        "exists (select 1 from members where role = 'members.x')",
        "exists (select 1 from members m where m.role = 'm.x')",
    ),
    (  # unqualified, org_id is the member's
        "exists (select 1 from members m where m.org_id = org_id)",
        "exists (select 1 from members where members.org_id = docs.org_id)",
    ),
    (  # a relation read twice keeps its aliases
        "exists (select 1 from members a join members b on a.org_id = b.org_id "
        "where a.user_id = auth.uid())",
        "exists (select 1 from members a join members b on a.org_id = b.org_id "
        "where b.user_id = auth.uid())",
    ),
    ("true", "sql_true()"),  # folded alike, but one calls the database's function
    ("sql_true()", "true"),
    ("a$b = 1", '"a$b" = 2'),
    (  # an alias named like a schema: the schema of a function it qualifies is kept
        "exists (select 1 from members auth where auth.org_id = docs.org_id and auth.is_admin())",
        "exists (select 1 from members where members.org_id = docs.org_id and members.is_admin())",
    ),
]

LOCKING = ["for update", "for no key update", "for share", "for key share"]


@pytest.fixture
def db(database: str) -> str:
    return with_policies(database, SCHEMA, MATCH + DIFFER)


@pytest.fixture
def connection(db: str) -> Iterator[Connection]:
    with connection_to(db) as conn:
        yield conn


def polqual(conn: Connection, name: str) -> str:
    return str(
        conn.execute(
            text("select pg_get_expr(polqual, polrelid) from pg_policy where polname = :n"),
            {"n": name},
        ).scalar_one()
    )


@pytest.mark.parametrize("role", [None, "authenticated"])
def test_aliases_are_the_writers_choice_and_different_expressions_still_differ(
    connection: Connection, role: str | None
) -> None:
    found = as_a_check(
        connection,
        role,
        lambda conn: [
            compare(conn, "public", "docs", plan, polqual(conn, f"p{number}"))
            for number, (plan, _) in enumerate(MATCH + DIFFER)
        ],
    )
    pairs = MATCH + DIFFER
    assert [pairs[n] for n, d in enumerate(found[: len(MATCH)]) if d is not None] == []
    assert [pairs[len(MATCH) + n] for n, d in enumerate(found[len(MATCH) :]) if d is None] == []
    for wanted, have in found[len(MATCH) :]:
        assert wanted.shown != have.shown  # an operator sees what differs


def test_a_comparison_takes_no_lock_beyond_access_share(connection: Connection) -> None:
    def work(conn: Connection) -> Any:
        for clause in LOCKING:
            with pytest.raises(ExpressionError, match="locking clause"):
                compare(conn, "public", "docs", f"exists (select 1 from members {clause})", "true")
        compare(conn, "public", "docs", "exists (select 1 from members)", "true")
        return conn.execute(
            text(
                "select relation::regclass::text, mode from pg_locks "
                "where pid = pg_backend_pid() and locktype = 'relation' "
                "and relation in ('docs'::regclass, 'members'::regclass)"
            )
        ).all()

    locks = as_a_check(connection, None, work)
    assert {mode for _, mode in locks} == {"AccessShareLock"}, locks


@contextmanager
def _victim(db: str) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any], int]]:
    """An admin session and a victim's, with the victim's backend pid."""
    with psycopg.connect(db, autocommit=True) as admin, psycopg.connect(db) as victim:
        row = victim.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        yield admin, victim, int(row[0])


def _alive(admin: psycopg.Connection[Any], pid: int) -> bool:
    row = admin.execute("select count(*) from pg_stat_activity where pid = %s", (pid,)).fetchone()
    return row is not None and row[0] == 1


@pytest.mark.parametrize(
    ("definition", "named"),
    [
        (
            "language plpgsql immutable as $f$ begin perform {kill}; return true; end $f$",
            "public.trojan() (plpgsql, IMMUTABLE)",
        ),
        (
            "language plpgsql stable as $f$ begin perform {kill}; return true; end $f$",
            "public.trojan() (plpgsql, STABLE)",
        ),
        # a SQL function's body, which the planner may inline or run, is read too
        (
            "language sql immutable as $f$ select public.inner_trojan() $f$",
            "public.inner_trojan() (plpgsql, VOLATILE)",
        ),
        (  # a quoted name is a name too
            "language plpgsql immutable as $f$ begin perform {kill}; return true; end $f$",
            'public."Trojan"() (plpgsql, IMMUTABLE)',
        ),
    ],
    ids=["immutable", "stable", "through-sql", "quoted"],
)
@pytest.mark.parametrize("side", ["policy", "plan"])
def test_a_function_of_the_database_the_planner_would_run_is_refused_unrun(
    db: str, connection: Connection, definition: str, named: str, side: str
) -> None:
    with _victim(db) as (admin, _, pid):
        kill = f"pg_terminate_backend({pid})"
        admin.execute(
            "create function public.inner_trojan() returns boolean language plpgsql "
            f"as $f$ begin perform {kill}; return true; end $f$"
        )
        name = 'public."Trojan"' if '"Trojan"' in named else "public.trojan"
        admin.execute(f"create function {name}() returns boolean {definition.format(kill=kill)}")
        using = f"{name}()" if side == "policy" else "true"
        admin.execute(f"create policy t on docs using ({using})")

        def attempt(conn: Connection) -> str:
            plan = "true" if side == "policy" else f"{name}()"
            with pytest.raises(ExpressionError) as refused:
                compare(conn, "public", "docs", plan, polqual(conn, "t"))
            return str(refused.value)

        message = as_a_check(connection, None, attempt)
        assert _alive(admin, pid), "the check ran the function"
        assert message.startswith("it cannot be compared safely: the expressions call ")
        assert named in message


def test_a_sql_function_the_planner_runs_runs_as_the_tables_owner(
    db: str, connection: Connection
) -> None:
    with _victim(db) as (admin, _, pid):
        tenant = f"tenant_{uuid.uuid4().hex[:8]}"  # roles outlive the test's database
        admin.execute(f"create role {tenant}")
        admin.execute("create table tenant_docs (id int)")
        admin.execute(f"alter table tenant_docs owner to {tenant}")
        # not inlinable (its body is VOLATILE), IMMUTABLE: the planner runs it
        admin.execute(
            "create function public.sql_kill() returns boolean language sql immutable "
            f"as $f$ select pg_terminate_backend({pid}) $f$"
        )
        admin.execute("create policy k on tenant_docs using (sql_kill())")

        def attempt(conn: Connection) -> Any:
            with pytest.raises(DBAPIError) as refused:  # not the owner's to terminate
                compare(conn, "public", "tenant_docs", "sql_kill()", polqual(conn, "k"))
            assert getattr(refused.value.orig, "sqlstate", None) == "42501", refused.value

        as_a_check(connection, None, attempt)
        assert _alive(admin, pid), "the planner ran the owner's SQL as migrator's role"


def test_a_plan_trusting_a_function_of_the_policy_fails_naming_it(
    db: str, migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(
        "plan: evil\nkind: hotfix\npre_checks:\n  - policy_exists:\n      table: docs\n"
        '      name: trojan\n      using: "true"\nsteps: [{sql: select 1}]\n'
    )
    with _victim(db) as (admin, _, pid):
        admin.execute(
            "create function public.trojan() returns boolean language plpgsql immutable "
            f"as $f$ begin perform pg_terminate_backend({pid}); return true; end $f$"
        )
        admin.execute("create policy trojan on docs using (trojan())")
        result = migrator("apply", plan)
        assert _alive(admin, pid), result.out + result.err
        assert result.code == 1, result.out + result.err
        assert "it cannot be compared safely" in result.out
        assert "public.trojan() (plpgsql, IMMUTABLE)" in result.out


@pytest.mark.parametrize("clause", LOCKING)
def test_validate_refuses_a_locking_clause(migrator: Any, write_plan: Any, clause: str) -> None:
    plan = write_plan(
        "plan: locks\nkind: hotfix\npre_checks:\n  - policy_exists:\n      table: docs\n"
        f'      name: p\n      using: "exists (select 1 from members {clause})"\n'
        "steps: [{sql: select 1}]\n"
    )
    result = migrator("validate", plan)
    assert result.code == 2, result.out + result.err
    assert f"locking clause ({clause.upper()})" in result.out + result.err


def test_a_partitioned_table_and_quoted_names(db: str, connection: Connection) -> None:
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("create table parted (org_id int, status text) partition by list (org_id)")
        admin.execute("create table parted_1 partition of parted for values in (1)")
        admin.execute("create policy pd on parted using (status = 'x' and org_id = 1)")
        admin.execute('create schema "My Schema"')
        admin.execute('create table "My Schema"."My Docs" ("Org" int, status text)')
        admin.execute('create policy pe on "My Schema"."My Docs" using ("Org" = 1)')

    def verdicts(conn: Connection) -> list[bool]:
        pd, pe = polqual(conn, "pd"), polqual(conn, "pe")
        return [
            compare(conn, "public", "parted", "status = 'x' and org_id = 1", pd) is None,
            compare(conn, "public", "parted", "status = 'y' and org_id = 1", pd) is None,
            compare(conn, "My Schema", "My Docs", '"Org" = 1', pe) is None,
            compare(conn, "My Schema", "My Docs", '"My Docs"."Org" = 2', pe) is None,
        ]

    assert as_a_check(connection, None, verdicts) == [True, False, True, False]


def test_a_role_that_cannot_read_the_table_compares_what_calls_no_function(
    db: str, connection: Connection
) -> None:
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute("create table hidden (org_id int)")
        admin.execute("create policy ph on hidden using (org_id = 1)")
    differ = as_a_check(
        connection,
        "authenticated",
        lambda conn: compare(conn, "public", "hidden", "org_id = 1", polqual(conn, "ph")),
    )
    assert differ is None


def test_a_check_role_that_cannot_become_the_owner_compares_no_sql_function(db: str) -> None:
    checker = f"checker_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(f"create role {checker} login")
        admin.execute(f"grant select on docs, members to {checker}")
        admin.execute(f"grant usage on schema auth to {checker}")
        admin.execute("create policy mine on docs using (owner = auth.uid())")
    as_checker = psycopg.conninfo.make_conninfo(db, user=checker)
    with connection_to(as_checker) as conn:

        def attempt(conn: Connection) -> str:
            with pytest.raises(ExpressionError) as refused:
                compare(conn, "public", "docs", "owner = auth.uid()", polqual(conn, "mine"))
            return str(refused.value)

        message = as_a_check(conn, None, attempt)
    assert message.startswith("it cannot be compared safely: the expressions call SQL functions")
    assert f"the table's owner postgres, a role the check's role {checker} cannot take" in message


@pytest.mark.parametrize("role", [None, "authenticated"])
def test_another_policy_the_planner_adds_under_row_level_security_is_read_too(
    db: str, connection: Connection, role: str | None
) -> None:
    with _victim(db) as (admin, _, pid):
        admin.execute(
            "create function public.trojan() returns boolean language plpgsql immutable "
            f"as $f$ begin perform pg_terminate_backend({pid}); return true; end $f$"
        )
        admin.execute("create policy t on docs using (trojan())")
        admin.execute("create policy plain on docs using (org_id = 1)")

        def attempt(conn: Connection) -> Any:
            try:
                return compare(conn, "public", "docs", "org_id = 1", polqual(conn, "plain"))
            except ExpressionError as exc:
                return str(exc)

        verdict = as_a_check(connection, role, attempt)
        assert _alive(admin, pid), "the planner ran the other policy's function"
    if role is None:  # a superuser is not under row level security: nothing of t planned
        assert verdict is None
    else:
        assert "public.trojan() (plpgsql, IMMUTABLE)" in str(verdict)


def test_a_cast_of_the_databases_is_read_too(db: str, connection: Connection) -> None:
    with _victim(db) as (admin, _, pid):
        admin.execute("create type mood as enum ('calm')")
        admin.execute(
            "create function public.to_mood(text) returns mood language plpgsql immutable "
            f"as $f$ begin perform pg_terminate_backend({pid}); return 'calm'; end $f$"
        )
        admin.execute("create cast (text as mood) with function public.to_mood(text)")
        admin.execute("create policy m on docs using (cast('calm'::text as mood) is not null)")

        def attempt(conn: Connection) -> str:
            with pytest.raises(ExpressionError) as refused:
                compare(conn, "public", "docs", "true", polqual(conn, "m"))
            return str(refused.value)

        message = as_a_check(connection, None, attempt)
        assert _alive(admin, pid), "the planner ran the cast's function"
    assert "public.to_mood() (plpgsql, IMMUTABLE)" in message
