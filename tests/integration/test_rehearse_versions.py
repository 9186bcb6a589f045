"""`migrator rehearse` across PostgreSQL majors: which pg_dump and scratch server make the
copy (target <= pg_dump <= scratch, by major), said in the output; what does not fit
refused before anything is made; the catalog snapshot right on each major's catalogs.

These run on whatever major the session's server is (MIGRATOR_TEST_PG) beside the
embedded PostgreSQL (the newest): what each major should do is read from the servers.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine

from migrator.db import embedded
from migrator.db.target import Target
from migrator.rehearse.catalog import compare, snapshot
from migrator.testing import fresh_database
from tests.rehearsing import (
    fitting_pg_dump,
    own_programs,
    scratch_databases,
    server_major,
    server_version,
    server_version_num,
)

SHIPPED = sorted((Path(__file__).resolve().parents[2] / "plans").glob("*.yaml"))

NOTES = """\
plan: notes
kind: hotfix
steps:
  - name: a notes table
    sql: create table notes (id int)
    rollback: {sql: drop table notes}
"""


def catalog_of(dsn: str) -> dict[str, Any]:
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    try:
        with engine.connect() as conn:
            return snapshot(conn)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def embedded_home() -> Iterator[Path]:
    """A folder whose `.migrator/pgdata` holds the embedded PostgreSQL, for the module."""
    path = Path(tempfile.mkdtemp(prefix="mrv-"))  # short: the socket lives in the data folder
    yield path
    embedded.stop(path / ".migrator" / "pgdata")


@pytest.fixture
def by_default(embedded_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Rehearse as an operator does with no option: the embedded scratch server and pg_dump."""
    monkeypatch.chdir(embedded_home)
    for name in ("MIGRATOR_SCRATCH_DSN", "MIGRATOR_PG_DUMP"):
        monkeypatch.delenv(name, raising=False)
    return embedded_home


@pytest.fixture
def newest_database(by_default: Path) -> Iterator[str]:
    """A database on the embedded PostgreSQL (the newest major), as a target."""
    dsn = embedded.start(by_default / ".migrator" / "pgdata")
    with fresh_database(dsn, prefix="target") as database:
        yield database


@pytest.fixture
def demo_database(database: str) -> str:
    from migrator.demo import generate

    generate.load(database, sessions=100)
    return database


@pytest.mark.parametrize("plan", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_shipped_plans_rehearse_clean_on_any_major_with_no_option(
    migrator: Any, by_default: Path, demo_database: str, plan: Path
) -> None:
    before = catalog_of(demo_database)

    result = migrator("rehearse", plan, "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["result"] == "clean"
    assert document["not_rehearsed"] == []
    assert document["round_trips"]
    assert all(t["differences"] == [] for t in document["round_trips"])
    # Copied by the embedded pg_dump onto the embedded server, whatever the target's major.
    version = embedded.version()
    assert document["target"]["version"] == server_version(demo_database)
    assert document["target"]["major"] == server_major(demo_database)
    assert document["pg_dump"]["version"] == version
    assert document["pg_dump"]["embedded"] is True
    assert document["pg_dump"]["shown"] == f"pg_dump {version} (embedded)"
    assert document["scratch"]["version"] == version
    assert document["scratch"]["embedded"] is True
    assert document["scratch"]["shown"] == f"PostgreSQL {version} (embedded)"
    newer = [n for n in document["notes"] if n.startswith("rehearsed on PostgreSQL")]
    assert bool(newer) == (server_major(demo_database) < embedded.major()), document["notes"]
    assert catalog_of(demo_database) == before


def test_the_text_output_says_which_pg_dump_and_server_made_the_copy(
    migrator: Any, by_default: Path, write_plan: Any, database: str
) -> None:
    result = migrator("rehearse", write_plan(NOTES))

    assert result.code == 0, result.out + result.err
    version = embedded.version()
    target = server_version(database)
    assert (
        f"  copied the schema only of PostgreSQL {target} with pg_dump {version} (embedded) "
        f"onto scratch PostgreSQL {version} (embedded)\n"
    ) in result.out
    major = server_major(database)
    if major < embedded.major():
        assert (
            f"  note: rehearsed on PostgreSQL {version}, newer than the target's {target}: "
            f"where the two majors differ the copy behaves as {embedded.major()} does; for "
            f"{major}'s own behaviour rehearse on a PostgreSQL {major} server"
        ) in result.out
    else:
        assert "note: rehearsed on" not in result.out


def test_a_scratch_server_older_than_the_target_is_refused_before_anything_is_made(
    migrator: Any, write_plan: Any, newest_database: str, admin_dsn: str
) -> None:
    # The target is the newest major; the scratch server is the session's (maybe older).
    role = "rehearse_versions_grantee"
    with psycopg.connect(newest_database, autocommit=True) as conn:
        conn.execute(f"create role {role} nologin")
        conn.execute(f"create table items (id int); grant select on items to {role}")
    scratches = scratch_databases(admin_dsn)
    try:
        result = migrator(
            "rehearse", write_plan(NOTES), "--dsn", newest_database, "--scratch-dsn",
            admin_dsn, *fitting_pg_dump(admin_dsn), "--output", "json", dsn=False,
        )  # fmt: skip
        created = bool(psycopg.connect(admin_dsn, autocommit=True).execute(
            "select 1 from pg_roles where rolname = %s", (role,)).fetchone())  # fmt: skip
        if server_major(admin_dsn) < embedded.major():
            assert result.code == 2, result.out + result.err
            assert (
                f"error: the scratch server ({Target(admin_dsn, 'test').shown}) runs PostgreSQL "
                f"{server_version(admin_dsn)}, older than the target's {embedded.version()}: it "
                f"cannot take a copy of a newer server's schema. Give --scratch-dsn a PostgreSQL "
                f"{embedded.major()} or newer server, or give none (neither --scratch-dsn nor "
                f"MIGRATOR_SCRATCH_DSN) to rehearse on the embedded PostgreSQL "
                f"{embedded.major()}\n"
            ) in result.err
            assert result.out == ""
            assert not created  # nothing made: no role, no database
            assert scratch_databases(admin_dsn) == scratches
        else:  # the same major: the safe case
            assert result.code == 0, result.out + result.err
            document = json.loads(result.out)
            assert document["scratch"]["embedded"] is False
            assert document["target"]["version"] == document["scratch"]["version"]
            assert created
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"drop role if exists {role}")


def test_a_pg_dump_older_than_the_target_is_refused_before_anything_is_made(
    migrator: Any, write_plan: Any, newest_database: str, admin_dsn: str
) -> None:
    # The session server's own pg_dump, against a target of the newest major.
    own = own_programs(admin_dsn) / "pg_dump"
    result = migrator(
        "rehearse", write_plan(NOTES), "--dsn", newest_database, "--pg-dump", str(own),
        dsn=False,
    )  # fmt: skip
    if server_major(admin_dsn) < embedded.major():
        assert result.code == 2, result.out + result.err
        assert (
            f"error: pg_dump {server_version(admin_dsn)} ({own}, given by --pg-dump) is older "
            f"than the target's PostgreSQL {embedded.version()}: it cannot copy a newer "
            f"server's schema. Give --pg-dump PATH to a pg_dump {embedded.major()}\n"
        ) in result.err
        assert "rehearsing plan" not in result.out
    else:
        assert result.code == 0, result.out + result.err
        assert f"with pg_dump {embedded.version()} ({own}) onto scratch" in result.out


def test_another_program_given_as_pg_dump_is_refused_before_anything_is_made(
    migrator: Any, write_plan: Any, database: str, admin_dsn: str
) -> None:
    # psql answers --version with a version too: only pg_dump's own answer is taken.
    psql = embedded.programs() / "psql"
    scratches = scratch_databases(admin_dsn)
    result = migrator("rehearse", write_plan(NOTES), "--pg-dump", str(psql))
    assert result.code == 2, result.out + result.err
    assert f"error: {psql} is not pg_dump: asked its --version, it answered 'psql (PostgreSQL)" in (
        result.err
    )
    assert "rehearsing plan" not in result.out
    assert scratch_databases(admin_dsn) == scratches


def test_the_embedded_pg_dump_is_never_restored_on_an_older_scratch_server(
    migrator: Any, write_plan: Any, admin_dsn: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MIGRATOR_PG_DUMP", raising=False)
    plan = write_plan(NOTES)
    scratches = scratch_databases(admin_dsn)
    major, version = server_major(admin_dsn), server_version(admin_dsn)
    shown = Target(admin_dsn, "test").shown

    result = migrator("rehearse", plan, "--scratch-dsn", admin_dsn, "--output", "json")

    if major < embedded.major():
        why = (
            "pg_dump 17 and later write settings 16 and older refuse"
            if major <= 16
            else "a dump is written for its pg_dump's own major"
        )
        assert result.code == 2, result.out + result.err
        assert (
            f"error: pg_dump {embedded.version()} ({embedded.programs() / 'pg_dump'}, the "
            f"embedded PostgreSQL's) writes its copy for PostgreSQL {embedded.major()}, which "
            f"the scratch server, PostgreSQL {version} ({shown}), cannot be trusted to read "
            f"({why}). Give --pg-dump PATH to a pg_dump {major}\n"
        ) in result.err
        assert scratch_databases(admin_dsn) == scratches
        # Given the pg_dump it names, the copy is made: the same major, the safe case.
        own = own_programs(admin_dsn) / "pg_dump"
        result = migrator(
            "rehearse", plan, "--scratch-dsn", admin_dsn, "--pg-dump", str(own),
            "--output", "json",
        )  # fmt: skip
        pg_dump = {"path": str(own), "version": version, "major": major, "embedded": False,
                   "shown": f"pg_dump {version} ({own})"}  # fmt: skip
    else:
        pg_dump = {"path": str(embedded.programs() / "pg_dump"), "version": embedded.version(),
                   "major": major, "embedded": True,
                   "shown": f"pg_dump {embedded.version()} (embedded)"}  # fmt: skip
    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["pg_dump"] == pg_dump
    assert document["scratch"]["shown"] == f"PostgreSQL {version} ({shown})"
    assert document["scratch"]["server"] == shown  # no password: the DSN as shown
    assert document["notes"] == []  # the same major: nothing to say
    assert scratch_databases(admin_dsn) == scratches


# -- the catalog snapshot on each major's catalogs ------------------------------------------


def test_a_not_null_is_one_difference_on_every_major(sql: Any, database: str) -> None:
    sql("create table items (id int primary key, name text, kind text not null)")
    sql("create domain positive as int check (value > 0)")
    before = catalog_of(database)
    # PostgreSQL 18 catalogues a column's NOT NULL as a pg_constraint row too, 17 a
    # domain's: still one difference each, the column's or the domain's.
    assert not any(key.endswith("_not_null") for key in before["constraint"])
    sql("alter table items alter column name set not null")
    sql("alter domain positive set not null")
    found = compare(before, catalog_of(database))
    assert [d.describe() for d in found] == [
        "column public.items.name changed (not_null: false -> true)",
        "type public.positive changed (not_null: false -> true)",
    ]
    sql("alter table items alter column name drop not null")
    sql("alter domain positive drop not null")
    assert compare(before, catalog_of(database)) == []


def test_an_unusual_not_null_constraint_is_told_where_the_server_has_them(
    sql: Any, database: str
) -> None:
    sql("create table items (id int, name text not null, kind text)")
    before = catalog_of(database)
    if server_version_num(database) < 180000:  # no NOT NULL constraint to name
        assert "not_null_constraint" not in before["column"]["public.items.name"]
        return
    sql("alter table items rename constraint items_name_not_null to name_required")
    sql("alter table items add constraint kind_required not null kind not valid")
    found = compare(before, catalog_of(database))
    assert [d.describe() for d in found] == [
        "column public.items.kind changed (not_null: false -> true; not_null_constraint: "
        'null -> "CONSTRAINT kind_required NOT NULL kind NOT VALID")',
        'column public.items.name changed (not_null_constraint: null -> "CONSTRAINT '
        'name_required NOT NULL name")',
    ]
    sql("alter table items rename constraint name_required to items_name_not_null")
    sql("alter table items drop constraint kind_required")
    assert compare(before, catalog_of(database)) == []


def test_maintain_compares_and_prints_by_name_where_the_server_has_it(
    sql: Any, database: str
) -> None:
    role = "rehearse_versions_maintainer"
    sql(f"create role {role} nologin")
    sql("create table items (id int)")
    before = catalog_of(database)
    owner = before["grant"]["public.items to postgres"]
    has_maintain = server_version_num(database) >= 170000  # acl letter 'm'
    assert ("MAINTAIN" in owner) == has_maintain, owner
    try:
        sql(f"grant all on items to {role}")
        (added,) = compare(before, catalog_of(database))
        everything = ["DELETE", "INSERT", *(["MAINTAIN"] if has_maintain else []),
                      "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"]  # fmt: skip
        assert added.after == everything
        assert added.describe() == f"grant public.items to {role} is there and was not before"
        if has_maintain:  # an undo written for 16 leaves MAINTAIN behind on 17 and later
            sql(f"revoke select, insert, update, delete, truncate, references, trigger "
                f"on items from {role}")  # fmt: skip
            (left,) = compare(before, catalog_of(database))
            assert left.after == ["MAINTAIN"]
            assert (sql("select relacl::text from pg_class where relname = 'items'")[0][0]
                    .endswith(f"{role}=m/postgres}}"))  # fmt: skip
        sql(f"revoke all on items from {role}")
        assert compare(before, catalog_of(database)) == []
    finally:
        sql(f"revoke all on items from {role}")
        sql(f"drop role {role}")


def test_the_public_schema_owner_is_the_servers_own(
    migrator: Any, write_plan: Any, sql: Any, database: str, admin_dsn: str
) -> None:
    # 15 made pg_database_owner the owner of `public`; 14 gives it the bootstrap superuser.
    (superuser,) = sql("select rolname from pg_roles where oid = 10")[0]
    owner = "pg_database_owner" if server_version_num(database) >= 150000 else superuser
    assert catalog_of(database)["schema"]["public"] == {"owner": owner}
    role = "rehearse_versions_owner"
    sql(f"create role {role} nologin")
    # An undo that gives `public` back to the superuser, as 14 had it.
    plan = write_plan(
        f"""\
        plan: public-owner
        kind: hotfix
        steps:
          - name: the application owns public
            sql: alter schema public owner to {role}
            rollback: {{sql: alter schema public owner to {superuser}}}
        """
    )
    try:
        result = migrator(
            "rehearse", plan, "--scratch-dsn", admin_dsn, *fitting_pg_dump(admin_dsn),
            "--output", "json",
        )  # fmt: skip
    finally:
        sql(f"drop role {role}")
    document = json.loads(result.out)
    (trip,) = document["round_trips"]
    if owner == superuser:  # 14: the undo restores it
        assert result.code == 0, result.out + result.err
        assert trip["differences"] == []
    else:
        assert result.code == 1, result.out + result.err
        back = [d for d in trip["differences"] if d["leg"] == "back"]
        assert [(d["description"], d["steps"]) for d in back] == [
            (
                f'schema public changed (owner: "pg_database_owner" -> "{superuser}")',
                ["the application owns public"],
            )
        ]
