"""`migrator rehearse`: round trips on a scratch copy, differences named, the target untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrator.demo import sql_text
from migrator.rehearse.catalog import Difference, compare, mentions, snapshot
from migrator.rehearse.scratch import Sample, ScratchError, scratch_name
from tests.processes import sigkill, spawn, wait_for
from tests.rehearsing import (
    fake_pg_dump,
    fitting_pg_dump,
    scratch_databases,
    server_major,
    server_version,
)
from tests.secrets_sweep import sweep_of
from tests.signals import FIRST_SIGNAL_HANDLED, SIGNALS, finish, wait_for_line

TABLES = """
create table items (id serial primary key, name text not null default 'x', kind text);
create table notes (id serial primary key, item_id int references items (id), body text);
insert into items (name, kind) select 'item ' || g, 'k' || (g % 3) from generate_series(1, 40) g;
insert into notes (item_id, body) select g, 'note ' || g from generate_series(1, 40) g;
"""

FAITHFUL = """\
plan: faithful
phases: [before, scored, locked]
transitions:
  - name: add_scores
    from: before
    to: scored
    steps:
      - name: add the score column and its index
        sql: |
          alter table items add column score int not null default 0;
          create index items_score_idx on items (score)
        rollback: {sql: "drop index items_score_idx; alter table items drop column score"}
      - name: a view of the scores
        sql: create view item_scores as select id, score from items
        rollback: {sql: drop view item_scores}
  - name: remove_scores
    from: scored
    to: before
    steps:
      - {sql: drop view item_scores}
      - {sql: "drop index items_score_idx; alter table items drop column score"}
  - name: lock_items
    from: scored
    to: locked
    approval: true
    steps:
      - name: row level security on items
        rls: {table: items}
      - name: items are locked
        flag: {name: ITEMS_LOCKED, value: true}
      - name: everyone reads items
        policy: {table: items, name: items are public, command: select, to: public, using: "true"}
      - name: the kinds are an enum now
        sql: |
          create type item_kind as enum ('k0', 'k1', 'k2');
          alter table items alter column kind type item_kind using kind::item_kind;
          grant select on items to public
        rollback:
          sql: |
            revoke select on items from public;
            alter table items alter column kind type text;
            drop type item_kind
"""

LEAKY = """\
plan: leaky
phases: [before, after]
transitions:
  - name: add_both
    from: before
    to: after
    steps:
      - name: harmless
        sql: comment on table notes is 'notes'
        rollback: {sql: comment on table notes is null}
      - name: add a column and an index
        sql: |
          alter table items add column rank int;
          create index items_name_idx on items (name)
        rollback: {sql: alter table items drop column rank}
"""

HOTFIX = """\
plan: ir-07
kind: hotfix
steps:
  - name: service role can manage profiles
    policy:
      table: public.profiles
      name: Service role can manage profiles
      command: all
      to: [service_role]
      using: auth.role() = 'service_role'
      with_check: auth.role() = 'service_role'
  - name: a note for the API
    http: {method: POST, url: "http://127.0.0.1:9/never-called"}
  - name: flag in the application's file
    flag: {name: PROFILES_FIXED, value: true, store: "file:app-flags.json"}
post_checks:
  - policy_exists: {table: profiles, name: Service role can manage profiles}
  - name: the service role writes
    rls_probe:
      as_role: service_role
      claims: {role: service_role}
      sql: insert into profiles (session_id) values (1)
    expect: allowed
  - name: the API answers
    http: {url: "http://127.0.0.1:9/health"}
    expect: {status: 200}
"""

IR07 = """
create table profiles (id bigserial primary key, session_id int unique, results_version text);
grant all on profiles to anon, authenticated, service_role;
grant all on sequence profiles_id_seq to anon, authenticated, service_role;
alter table profiles enable row level security;
"""


def catalog_of(dsn: str) -> dict[str, Any]:
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    try:
        with engine.connect() as conn:
            return snapshot(conn)
    finally:
        engine.dispose()


@pytest.fixture
def items(sql: Any) -> None:
    sql(TABLES)


def test_a_faithful_plan_rehearses_clean_and_leaves_the_target_as_it_was(
    rehearse: Any, write_plan: Any, sql: Any, items: None, database: str, admin_dsn: str
) -> None:
    plan = write_plan(FAITHFUL)
    before = catalog_of(database)
    scratches = scratch_databases(admin_dsn)

    result = rehearse(plan, "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["result"] == "clean"
    trips = {t["transition"]: t for t in document["round_trips"]}
    assert set(trips) == {"add_scores", "lock_items"}
    assert trips["add_scores"]["back"] == "remove_scores"  # the reverse transition
    assert trips["lock_items"]["back"] is None  # the undo of its steps
    assert all(t["legs"] == ["forward", "back", "forward again"] for t in trips.values())
    assert all(t["differences"] == [] for t in trips.values())
    assert document["not_rehearsed"] == []
    assert document["start_phase"] == "before"
    assert document["sample"] is None and document["rows_copied"] == {}
    # The target: the same catalog, no schema migrator, every row still there.
    assert catalog_of(database) == before
    assert sql("select to_regnamespace('migrator')") == [(None,)]
    assert sql("select count(*) from items") == [(40,)]
    # The scratch database is gone.
    assert scratch_databases(admin_dsn) == scratches


def test_an_undo_that_forgets_an_index_names_the_step_and_the_index(
    rehearse: Any, write_plan: Any, items: None, database: str
) -> None:
    plan = write_plan(LEAKY)
    before = catalog_of(database)

    result = rehearse(plan)

    assert result.code == 1, result.out + result.err
    assert (
        "back: step 'add a column and an index' of add_both: its undo does not restore "
        "what it changed: index public.items_name_idx is there and was not before"
    ) in result.out
    differences = [line for line in result.out.splitlines() if line.strip().startswith("back:")]
    assert differences and "'harmless'" not in "".join(differences)  # it did not touch the index
    assert "did not come back clean" in result.out
    assert catalog_of(database) == before

    document = json.loads(rehearse(plan, "--output", "json").out)
    assert document["exit_code"] == 1
    (trip,) = document["round_trips"]
    assert trip["outcome"] == "failed"  # forward again trips over the index left behind
    assert trip["failed"] == "forward again failed (exit 1)"
    assert 'relation "items_name_idx" already exists' in trip["log"]
    (difference,) = trip["differences"]
    assert difference["leg"] == "back"
    assert (difference["kind"], difference["object"], difference["change"]) == (
        "index",
        "public.items_name_idx",
        "added",
    )
    assert difference["steps"] == ["add a column and an index"]


def test_output_cut_short_still_drops_the_scratch_database(
    write_plan: Any, items: None, database: str, admin_dsn: str
) -> None:
    """`migrator rehearse PLAN | head -1`: the reader has gone, each line written fails
    (a broken pipe); the rehearsal goes on to its end with its output dropped, exits
    with its own verdict, and the scratch database is dropped all the same."""
    before = scratch_databases(admin_dsn)
    read, write = os.pipe()
    os.close(read)  # whatever rehearse writes meets a pipe nobody reads
    command = [sys.executable, "-m", "migrator", "rehearse", str(write_plan(FAITHFUL))]
    command += ["--dsn", database, "--scratch-dsn", admin_dsn, *fitting_pg_dump(admin_dsn)]
    with subprocess.Popen(
        command,
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as proc:
        os.close(write)
        _, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err  # the rehearsal's own verdict: every leg round-trips
    assert "Traceback" not in err and "Broken pipe" not in err, err
    assert scratch_databases(admin_dsn) == before, err


SLEEPY = """\
plan: sleepy
phases: [before, after]
transitions:
  - name: doze
    from: before
    to: after
    steps:
      - {name: a long statement, sql: select pg_sleep(61.25), rollback: {sql: select 1}}
"""


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_stopped_rehearsal_says_it_was_stopped_and_leaves_nothing_to_settle(
    signum: int, code: int, write_plan: Any, items: None, database: str, admin_dsn: str
) -> None:
    """SIGINT or SIGTERM while a step runs on the copy (the second stops at once): the
    rehearsal says it stopped and its scratch database was dropped, never the engine's
    `migrator resume` or `rollback` (followed with the target's DSN, they would act on it)."""
    before = scratch_databases(admin_dsn)
    plan = write_plan(SLEEPY)
    seen: list[str] = []
    proc = spawn(
        "rehearse", plan, "--dsn", database, "--scratch-dsn", admin_dsn,
        *fitting_pg_dump(admin_dsn),
    )  # fmt: skip

    def sleeping() -> bool:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            rows = conn.execute(
                "select 1 from pg_stat_activity where query like 'select pg_sleep(61.25)%'"
            ).fetchall()
        return bool(rows)

    try:
        wait_for(sleeping, timeout=60, proc=proc)
        os.kill(proc.pid, signum)
        wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
        os.kill(proc.pid, signum)  # the statement runs a minute: stop at once
        exit_code, out, err = finish(proc, seen)
    finally:
        sigkill(proc)

    assert exit_code == code, out + err
    assert "the rehearsal of plan sleepy was stopped" in err, err
    assert "was dropped" in err and "nothing is left to settle" in err
    assert "left interrupted" not in err and "migrator resume" not in err
    assert "Traceback" not in err
    assert scratch_databases(admin_dsn) == before


def test_a_forward_that_fails_says_so_and_never_that_the_trip_is_clean(
    rehearse: Any, write_plan: Any, items: None
) -> None:
    plan = write_plan(
        """\
        plan: broken
        phases: [before, after]
        transitions:
          - name: divide
            from: before
            to: after
            steps:
              - {name: by zero, sql: select 1/0, rollback: {sql: select 1}}
        """
    )

    result = rehearse(plan)

    assert result.code == 1, result.out + result.err
    (line,) = [x for x in result.out.splitlines() if "✗ divide (before -> after)" in x]
    assert line.strip() == "✗ divide (before -> after): forward failed (exit 1)", line
    assert "clean" not in line


def test_a_way_back_that_leaves_a_new_flag_set_is_said_and_one_that_changes_a_flag_fails(
    rehearse: Any, migrator: Any, write_plan: Any, items: None
) -> None:
    plan = write_plan(
        """\
        plan: flags
        phases: [old_path, new_path]
        transitions:
          - name: turn_on
            from: old_path
            to: new_path
            steps:
              - {name: the new path, flag: {name: NEW_PATH, value: true}}
              - {name: a table, sql: create table side (id int), rollback: {sql: drop table side}}
          - name: turn_off
            from: new_path
            to: old_path
            steps:
              - {flag: {name: NEW_PATH, value: false}}
              - {sql: drop table side}
        """
    )
    # No flag before: a reverse transition cannot remove one, so it is said, not failed.
    result = rehearse(plan, "--output", "json")
    assert result.code == 0, result.out
    (trip,) = json.loads(result.out)["round_trips"]
    assert trip["differences"] == []
    assert trip["notes"] == [
        "flag table:NEW_PATH did not exist before turn_on; the way back (turn_off) leaves it "
        "set to false: the same only if the application reads a missing NEW_PATH as false"
    ]
    # The target's flags are copied: a flag that was "legacy" and comes back false fails.
    seed = write_plan(
        "plan: seed\nkind: hotfix\nsteps: [{flag: {name: NEW_PATH, value: legacy}}]\n",
        "seed.yaml",
    )
    assert migrator("apply", seed).code == 0
    result = rehearse(plan, "--output", "json")
    assert result.code == 1, result.out
    (trip,) = json.loads(result.out)["round_trips"]
    (difference,) = trip["differences"]
    assert (difference["kind"], difference["object"], difference["change"]) == (
        "flag",
        "table:NEW_PATH",
        "changed",
    )
    assert difference["message"] == (
        "the way back (turn_off) does not restore what step 'the new path' of turn_on "
        'changed: flag table:NEW_PATH changed ("legacy" -> false)'
    )


def test_the_ir07_hotfix_rehearses_clean_and_calls_nothing_outside(
    rehearse: Any, write_plan: Any, sql: Any, database: str, tmp_path: Path
) -> None:
    sql(sql_text("supabase.sql"))
    sql(IR07)
    plan = write_plan(HOTFIX)
    flags = tmp_path / "app-flags.json"
    flags.write_text('{"OTHER": 1}\n')
    before = catalog_of(database)

    result = rehearse(plan)

    assert result.code == 0, result.out + result.err
    assert (
        "✓ apply (pending -> applied): forward, back by undoing its steps, forward again: clean"
    ) in result.out
    assert (
        "not called on a rehearsal (they reach outside the database): step 'a note for the "
        "API' (http); post-check 'the API answers' (http)"
    ) in result.out
    assert flags.read_text() == '{"OTHER": 1}\n'  # the real flag file was never written
    assert catalog_of(database) == before
    assert sql("select count(*) from pg_policies where tablename = 'profiles'") == [(0,)]


def test_checks_are_evaluated_once_and_a_failed_one_is_reported_not_stopped_at(
    rehearse: Any, write_plan: Any, items: None, admin_dsn: str
) -> None:
    plan = write_plan(
        """\
        plan: patient
        kind: hotfix
        steps:
          - {name: a table, sql: create table side (id int), rollback: {sql: drop table side}}
        post_checks:
          - name: steady for a while
            query: select count(*) from side
            expect: 0
            soak: {duration: 30s, interval: 10s}
          - name: the items arrive
            query: select count(*) from items
            expect: 40
            wait: {timeout: 30s, interval: 10s}
        """
    )
    result = rehearse(plan, "--output", "json", "--keep")
    document = json.loads(result.out)
    name = document["scratch"]["database"]
    try:
        assert document["evaluated_once"] == [
            "post-check 'steady for a while'",
            "post-check 'the items arrive'",
        ]
        # Schema only: no item arrives, and waiting would not bring one. The failed check
        # is reported; the undo is rehearsed all the same.
        assert result.code == 0, result.out
        (trip,) = document["round_trips"]
        assert trip["outcome"] == "clean"
        assert trip["legs"] == ["forward", "back", "forward again"]
        assert trip["checks_not_passed"] == [
            {"leg": leg, "check": "post-check 'the items arrive'", "actual": 0,
             "expected": "40", "detail": None}
            for leg in ("forward", "forward again")
        ]  # fmt: skip
        kept = admin_dsn.replace("/postgres?", f"/{name}?")
        with psycopg.connect(kept) as conn:
            samples = conn.execute(
                "select distinct detail->>'samples' from migrator.events where kind = 'check'"
            ).fetchall()
        assert samples == [("1",)]  # each check evaluated once: no soak, no wait
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


SHIPPED = sorted((Path(__file__).resolve().parents[2] / "plans").glob("*.yaml"))


@pytest.fixture
def demo_database(database: str) -> str:
    """The demo database (src/migrator/demo/): IR-07's broken state, the legacy tables."""
    from migrator.demo import generate

    generate.load(database, sessions=100)
    return database


@pytest.mark.parametrize("plan", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_shipped_plans_rehearse_clean_against_the_demo_database(
    rehearse: Any, demo_database: str, plan: Path
) -> None:
    before = catalog_of(demo_database)

    result = rehearse(plan, "--sample", "100%", "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["result"] == "clean"
    assert document["not_rehearsed"] == []
    assert document["round_trips"], "every shipped plan has a transition to rehearse"
    for trip in document["round_trips"]:
        assert trip["legs"] == ["forward", "back", "forward again"], trip
        assert trip["differences"] == [], trip
    assert sum(document["rows_copied"].values()) > 1000  # the demo's data came along
    assert catalog_of(demo_database) == before


def test_a_sample_of_the_data_is_copied_with_the_sequences(
    rehearse: Any, write_plan: Any, items: None
) -> None:
    plan = write_plan(
        """\
        plan: sampled
        phases: [a, b]
        transitions:
          - name: go
            from: a
            to: b
            pre_checks:
              - {name: some items, query: select count(*) from items, expect: 5}
              - {name: notes too, query: select count(*) from notes, expect: 5}
            steps:
              - name: one more item
                sql: insert into items (name) values ('new')
                rollback: {sql: "delete from items where name = 'new'"}
            post_checks:
              - {query: "select count(*) from items where id > 40", expect: 1}
        """
    )
    result = rehearse(plan, "--sample", "5", "--output", "json")
    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["rows_copied"] == {"public.items": 5, "public.notes": 5}
    assert document["sample"] == "up to 5 rows per table"

    schema_only = rehearse(plan)  # the checks see empty tables: said, and gone past
    assert schema_only.code == 0, schema_only.out
    assert (
        "forward: pre-check 'some items' did not pass on the copy (actual 0, expected 5)"
    ) in schema_only.out

    everything = rehearse(plan, "--sample", "100%", "--output", "json")
    assert json.loads(everything.out)["rows_copied"] == {"public.items": 40, "public.notes": 40}


@pytest.mark.parametrize("given", ["many", "-1", "0%", "150%", "5.5"])
def test_a_bad_sample_is_bad_usage(
    rehearse: Any, write_plan: Any, given: str, admin_dsn: str
) -> None:
    scratches = scratch_databases(admin_dsn)
    result = rehearse(write_plan(LEAKY), "--sample", given)
    assert result.code == 2
    assert f"--sample '{given}': write a number of rows per table (100) or a percentage" in (
        result.err
    )
    assert scratch_databases(admin_dsn) == scratches


def test_a_plan_in_a_later_phase_is_rehearsed_from_there_and_kept_on_request(
    rehearse: Any,
    migrator: Any,
    write_plan: Any,
    items: None,
    admin_dsn: str,
    request: pytest.FixtureRequest,
) -> None:
    plan = write_plan(FAITHFUL)
    applied = migrator("apply", plan, "--to", "scored")
    assert applied.code == 0, applied.out

    result = rehearse(plan, "--output", "json", "--keep")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["start_phase"] == "scored"
    walked = [(t["transition"], t["back"]) for t in document["round_trips"]]
    assert walked == [("remove_scores", "add_scores"), ("lock_items", None)]
    assert document["not_rehearsed"] == []
    name = document["scratch"]["database"]
    try:
        assert name.startswith("migrator_rehearse_faithful_") and document["scratch"]["kept"]
        assert name in scratch_databases(admin_dsn)
        kept = admin_dsn.replace("/postgres?", f"/{name}?")
        with psycopg.connect(kept) as conn:  # the scratch copy, where the walk left it
            phase = conn.execute("select phase from migrator.plan_state").fetchall()
            assert phase == [("locked",)]
            assert conn.execute("select count(*) from items").fetchone() == (0,)  # no data
        sweep = sweep_of(request.config)
        if sweep is not None:
            sweep.check_database(kept)  # its audit trail holds no secret either
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_a_pg_dump_older_than_the_target_is_said_clearly(
    migrator: Any, write_plan: Any, tmp_path: Path, admin_dsn: str
) -> None:
    old = fake_pg_dump(tmp_path, "12.4")
    scratches = scratch_databases(admin_dsn)
    result = migrator(
        "rehearse", write_plan(LEAKY), "--scratch-dsn", admin_dsn, "--pg-dump", str(old)
    )
    assert result.code == 2
    assert (
        f"pg_dump 12.4 ({old}, given by --pg-dump) is older than the target's PostgreSQL "
        f"{server_version(admin_dsn)}: it cannot copy a newer server's schema. "
        f"Give --pg-dump PATH to a pg_dump {server_major(admin_dsn)}\n"
    ) in result.err
    assert scratch_databases(admin_dsn) == scratches


def test_a_schema_that_does_not_restore_is_reported_and_cleaned_up(
    migrator: Any, write_plan: Any, tmp_path: Path, admin_dsn: str
) -> None:
    # A pg_dump of the scratch server's own major, so that it is let make the copy.
    broken = fake_pg_dump(tmp_path, f"{server_major(admin_dsn)}.0", "create table broken (;")
    scratches = scratch_databases(admin_dsn)
    result = migrator(
        "rehearse", write_plan(LEAKY), "--scratch-dsn", admin_dsn, "--pg-dump", str(broken)
    )
    assert result.code == 2
    assert "the schema could not be restored in the scratch database:" in result.err
    assert 'syntax error at or near ";"' in result.err
    assert scratch_databases(admin_dsn) == scratches


def test_a_scratch_server_that_refuses_a_database_is_said_in_one_line(
    rehearse: Any, migrator: Any, write_plan: Any, admin_dsn: str, sql: Any
) -> None:
    sql(
        "do $$ begin create role rehearser login nocreatedb; "
        "exception when duplicate_object then null; end $$"
    )
    user = admin_dsn.replace("postgresql://postgres:", "postgresql://rehearser:", 1)
    result = migrator("rehearse", write_plan(LEAKY), "--scratch-dsn", user, *fitting_pg_dump(user))
    assert result.code == 2
    said = [line for line in result.err.splitlines() if not line.startswith("warning: --dsn")]
    assert said == ["error: the rehearsal stopped: permission denied to create database"]


def test_an_unreachable_target_is_exit_5(write_plan: Any, capsys: Any, admin_dsn: str) -> None:
    from migrator.cli import main

    code = main(
        [
            "rehearse",
            str(write_plan(LEAKY)),
            "--dsn",
            "postgresql://ops:s3cr3tpw@127.0.0.1:9/x",
            "--scratch-dsn",
            admin_dsn,
        ]
    )
    err = capsys.readouterr().err
    assert code == 5
    assert "s3cr3tpw" not in err and "postgresql://ops:***@127.0.0.1:9/x" in err


# -- the embedded scratch server ------------------------------------------------------------


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short path: PostgreSQL's socket lives in the data folder, and socket paths are short.
    path = Path(tempfile.mkdtemp(prefix="mr-"))
    yield path
    pgdata = path / ".migrator" / "pgdata"
    from migrator.db import embedded

    embedded.stop(pgdata)


def test_by_default_the_scratch_copy_lives_on_the_embedded_server_with_the_roles_it_needs(
    workdir: Path, sql: Any, database: str
) -> None:
    from migrator.db import embedded

    sql(sql_text("supabase.sql"))
    sql(IR07)
    (workdir / "ir07.yaml").write_text(HOTFIX)
    env = {k: v for k, v in os.environ.items() if k not in ("MIGRATOR_DSN", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "migrator", "rehearse", "ir07.yaml", "--dsn", database],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = embedded.version()
    assert f"started the embedded PostgreSQL in .migrator/pgdata (version {version};" in done.stdout
    assert (
        f"  copied the schema only of PostgreSQL {server_version(database)} with pg_dump "
        f"{version} (embedded) onto scratch PostgreSQL {version} (embedded)\n"
    ) in done.stdout
    assert (
        "created roles on the scratch server (NOLOGIN), which the schema names: "
        "anon, authenticated, service_role"
    ) in done.stdout
    assert "forward, back by undoing its steps, forward again: clean" in done.stdout


# -- catalog snapshots ----------------------------------------------------------------------


def test_snapshots_compare_by_object(sql: Any, database: str) -> None:
    sql(TABLES)
    before = catalog_of(database)
    sql("grant select on items to public; revoke select on items from public")
    assert compare(before, catalog_of(database)) == []  # an explicit ACL equal to none

    sql("alter table items alter column kind set not null; create index k on items (kind)")
    sql("alter table items enable row level security")
    found = {(d.kind, d.key, d.change) for d in compare(before, catalog_of(database))}
    assert found == {
        ("column", "public.items.kind", "changed"),
        ("index", "public.k", "added"),
        ("table", "public.items", "changed"),
    }
    column = next(d for d in compare(before, catalog_of(database)) if d.kind == "column")
    assert column.describe() == "column public.items.kind changed (not_null: false -> true)"


def test_a_difference_knows_the_names_a_plan_would_use() -> None:
    index = Difference("index", "public.items_name_idx", "added", None, "CREATE INDEX ...")
    column = Difference("column", "public.items.rank", "removed", {}, None)
    grant = Difference("grant", "public.items to anon", "added", None, ["SELECT"])
    assert index.names == ["items_name_idx"]
    assert column.names == ["rank", "items"]
    assert grant.names == ["items", "anon"]
    assert mentions('CREATE INDEX "items_name_idx" ON items', "items_name_idx")
    assert not mentions("create index items_name_idx2 on items", "items_name_idx")


def test_scratch_names_are_identifiers() -> None:
    assert scratch_name("IR-07.profiles rls", 42) == "migrator_rehearse_ir_07_profiles_rls_42"
    assert len(scratch_name("x" * 200, 4194304)) <= 63
    assert Sample.parse("7") == Sample(rows=7)
    assert Sample.parse("2.5%") == Sample(percent=2.5)
    with pytest.raises(ScratchError):
        Sample.parse("")
