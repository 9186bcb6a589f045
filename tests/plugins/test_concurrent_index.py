"""Concurrent index builds in a `sql` step: an invalid leftover of an interrupted build is
dropped and built again, what a build makes is checked valid, a duplicated key is named.

The invalid leftovers are made for real: a concurrent build that waits for an old
transaction (one that wrote to the table and is still open) is terminated with
`pg_terminate_backend`, as the server ends the backend of a client that went away.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from migrator.plugin import sql_words
from migrator_sql import indexes
from tests.plans import phased
from tests.processes import sigkill, spawn, wait_for

VALID = """
select i.indisvalid, i.indisready from pg_index i join pg_class c on c.oid = i.indexrelid
where c.relname = %s
"""


def step(statement: str) -> str:
    return f"name: build\nsql: {statement}\nautocommit: true"


@contextmanager
def old_writer(database: str, table: str) -> Iterator[psycopg.Connection[Any]]:
    """A transaction that wrote to `table` and stays open: a concurrent build waits for it."""
    with psycopg.connect(database) as holder:
        holder.execute(f"lock table {table} in row exclusive mode")
        yield holder
        holder.rollback()


def waiting_build(database: str, table: str) -> Any:
    """The pid of a concurrent build of `table` that waits for old transactions, or None."""

    def pid() -> int | None:
        with psycopg.connect(database, autocommit=True) as conn:
            row = conn.execute(
                "select pid from pg_stat_progress_create_index "
                "where relid = to_regclass(%s) and phase like 'waiting for%%'",
                (table,),
            ).fetchone()
        return int(row[0]) if row else None

    return pid


def terminate(database: str, pid: int) -> None:
    """End backend `pid` and wait until it is gone."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(%s)", (pid,))
        wait_for(
            lambda: (
                conn.execute(
                    "select count(*) from pg_stat_activity where pid = %s", (pid,)
                ).fetchone()
                == (0,)
            )
        )


def leave_invalid(database: str, table: str, statement: str) -> None:
    """Run `statement` (a concurrent build on `table`) and terminate it half-way."""
    failures: list[BaseException] = []

    def build() -> None:
        try:
            with psycopg.connect(database, autocommit=True) as conn:
                conn.execute(statement)
        except psycopg.OperationalError as exc:
            failures.append(exc)

    with old_writer(database, table):
        thread = threading.Thread(target=build)
        thread.start()
        try:
            pid = waiting_build(database, table)
            wait_for(lambda: pid() is not None)
            terminate(database, pid() or 0)
        finally:
            thread.join()
    assert failures, "the build was not interrupted"


@pytest.mark.parametrize("if_not_exists", ["", "if not exists "])
def test_an_invalid_leftover_is_dropped_and_built_again_valid(
    migrator: Any, write_plan: Any, sql: Any, database: str, if_not_exists: str
) -> None:
    sql("create table users (email text); insert into users values ('a@b.c'), ('d@e.f')")
    leave_invalid(
        database, "users", "create unique index concurrently users_email on users (email)"
    )
    assert sql(VALID, "users_email") == [(False, False)]  # what an interrupted build leaves
    plan = write_plan(
        phased(
            "cic",
            [step(f"create unique index concurrently {if_not_exists}users_email on users (email)")],
        )
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out + result.err
    assert 'dropping invalid index "public"."users_email" on table "public"."users"' in result.out
    assert sql(VALID, "users_email") == [(True, True)]


def test_a_unique_index_over_duplicates_fails_naming_the_key_and_leaves_no_index(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    sql("create table users (email text); insert into users values ('a@b.c'), ('a@b.c')")
    plan = write_plan(
        phased("cic", [step("create unique index concurrently users_email on users (email)")])
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err
    assert "Key (email)=(a@b.c) is duplicated." in result.out
    error = sql("select detail->>'error' from migrator.events where status = 'failed'")
    assert error and "Key (email)=(a@b.c) is duplicated." in str(error[0][0])
    assert sql(VALID, "users_email") == []  # the invalid index it left was dropped


def test_an_unnamed_build_that_fails_leaves_no_invalid_index(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    sql("create table users (email text); insert into users values ('a@b.c'), ('a@b.c')")
    sql("create index users_kept on users (email)")
    plan = write_plan(phased("cic", [step("create unique index concurrently on users (email)")]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err
    assert "is duplicated" in result.out
    left = sql(
        "select indexrelid::regclass::text, indisvalid from pg_index "
        "where indrelid = 'users'::regclass"
    )
    assert left == [("users_kept", True)]


def test_reindex_concurrently_drops_the_copies_an_interrupted_one_left(
    migrator: Any, write_plan: Any, sql: Any, database: str
) -> None:
    sql("create table docs (id int); insert into docs select generate_series(1, 100)")
    sql("create index docs_id on docs (id)")
    leave_invalid(database, "docs", "reindex index concurrently docs_id")
    left = "select relname from pg_class where relname like 'docs_id%%' order by relname"
    assert sql(left) == [("docs_id",), ("docs_id_ccnew",)]
    assert sql(VALID, "docs_id_ccnew") == [(False, False)]
    plan = write_plan(phased("reindex", [step("reindex (verbose) index concurrently docs_id")]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out + result.err
    assert 'dropping invalid index "public"."docs_id_ccnew"' in result.out
    assert sql(left) == [("docs_id",)]
    assert sql(VALID, "docs_id") == [(True, True)]


def test_reindex_index_leaves_the_leftovers_of_another_index_alone(
    migrator: Any, write_plan: Any, sql: Any, database: str
) -> None:
    sql("create table docs (id int, v int)")
    sql("insert into docs select g, g from generate_series(1, 100) g")
    sql("create index docs_id on docs (id); create index docs_v on docs (v)")
    leave_invalid(database, "docs", "reindex index concurrently docs_v")
    plan = write_plan(phased("reindex", [step("reindex index concurrently docs_id")]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out + result.err
    assert sql(VALID, "docs_v_ccnew") == [(False, False)]  # not this step's to drop
    assert sql(VALID, "docs_id") == [(True, True)]


def test_names_that_need_quotes_are_found_and_dropped_quoted(
    migrator: Any, write_plan: Any, sql: Any, database: str
) -> None:
    sql('create schema "My Schema"; create table "My Schema"."Odd Table" (id int)')
    build = 'create index concurrently "Odd ""Idx""" on "My Schema"."Odd Table" (id)'
    leave_invalid(database, '"My Schema"."Odd Table"', build)
    assert sql(VALID, 'Odd "Idx"') == [(False, False)]
    plan = write_plan(phased("quoted", [step(f"'{build}'")]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out + result.err
    assert 'dropping invalid index "My Schema"."Odd ""Idx"""' in result.out
    assert sql(VALID, 'Odd "Idx"') == [(True, True)]


def test_if_not_exists_over_a_valid_index_does_nothing(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    sql("create table docs (id int); create index docs_id on docs (id)")
    before = sql("select 'docs_id'::regclass::oid")
    plan = write_plan(
        phased("again", [step("create index concurrently if not exists docs_id on docs (id)")])
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out + result.err
    assert "dropping" not in result.out
    assert sql("select 'docs_id'::regclass::oid") == before


def test_a_killed_concurrent_build_is_built_again_on_resume_and_ends_valid(
    write_plan: Any, migrator: Any, sql: Any, database: str
) -> None:
    sql("create table users (email text); insert into users values ('a@b.c'), ('d@e.f')")
    plan = write_plan(
        phased("cic", [step("create unique index concurrently users_email on users (email)")])
    )
    with old_writer(database, "users"):
        proc = spawn("apply", plan, "--to", "b", "--dsn", database)
        try:
            pid = waiting_build(database, "users")
            wait_for(lambda: pid() is not None, proc=proc)
            build = pid() or 0
        finally:
            assert sigkill(proc) == -signal.SIGKILL
        terminate(database, build)  # the server ends the backend of a client gone
    assert sql(VALID, "users_email") == [(False, False)]
    assert sql("select status from migrator.runs") == [("applying",)]

    result = migrator("resume", plan)
    assert result.code == 0, result.out + result.err
    assert "dropping invalid index" in result.out
    assert sql(VALID, "users_email") == [(True, True)]
    assert sql("select status from migrator.runs") == [("succeeded",)]


def test_validate_warns_of_an_unnamed_build_and_of_one_in_a_transaction(
    migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(
        phased(
            "lint",
            [
                step("create index concurrently on docs (id)"),
                "sql: create index concurrently docs_id on docs (id)",
            ],
        )
    )
    result = migrator("validate", plan)
    assert "an unnamed CREATE INDEX CONCURRENTLY" in result.out
    assert "CREATE INDEX CONCURRENTLY cannot run inside a transaction" in result.out


@pytest.mark.parametrize(
    ("statement", "build"),
    [
        ("create index concurrently i on t (a)", indexes.Build("create", ("t",), "i")),
        (
            'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "I x" ON ONLY s."T" (a)',
            indexes.Build("create", ("s", "T"), "I x"),
        ),
        ("create index concurrently on t (a)", indexes.Build("create", ("t",), None)),
        ("reindex index concurrently s.i", indexes.Build("reindex", ("s", "i"))),
        (
            "reindex (verbose, tablespace x) table concurrently t",
            indexes.Build("reindex", ("t",), reindex_table=True),
        ),
        ("create index i on t (a)", None),
        ("reindex index i", None),
        ("reindex schema concurrently s", None),
        ("select 1", None),
    ],
)
def test_which_statements_are_concurrent_builds(
    statement: str, build: indexes.Build | None
) -> None:
    assert indexes.read(sql_words(statement)[0]) == build


def test_reindex_table_that_skips_an_invalid_index_fails_naming_it(
    migrator: Any, write_plan: Any, sql: Any, database: str
) -> None:
    sql("create table docs (id int); insert into docs select generate_series(1, 100)")
    sql("create index docs_id on docs (id)")
    leave_invalid(database, "docs", "create index concurrently docs_half on docs (id)")
    plan = write_plan(phased("reindex", [step("reindex table concurrently docs")]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err
    assert 'index "public"."docs_half" on table "public"."docs" is not valid' in result.out
    assert "REINDEX TABLE CONCURRENTLY skips an invalid index" in result.out
    failed = sql("select detail->'memo' from migrator.events where status = 'failed'")
    assert failed == [({"invalid": [{"index": "docs_half", "table": "docs"}]},)]
    assert sql(VALID, "docs_half") == [(False, False)]  # not the step's to drop
    assert sql(VALID, "docs_id") == [(True, True)]


def test_if_not_exists_over_an_index_of_another_table_fails_naming_it(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    sql("create table docs (id int); create table other (id int)")
    sql("create index docs_id on other (id)")
    plan = write_plan(
        phased("other", [step("create index concurrently if not exists docs_id on docs (id)")])
    )
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err
    assert 'no index "docs_id" on table "docs" after its build' in result.out
    assert sql(
        "select indrelid::regclass::text from pg_index where indexrelid = 'docs_id'::regclass"
    ) == [("other",)]
