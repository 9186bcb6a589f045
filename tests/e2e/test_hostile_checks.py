"""Hostile check SQL through `migrator plan` (the dry run) and `migrator apply`: whatever a
check holds, the target database is the same afterwards (a snapshot of its catalog and of
every row), no program ran, no advisory lock is left, and no probe is `allowed` as
anyone but its role. What `validate` can see is refused before the database is touched
(exit 2); what hides in the database (a function that changes the role or takes a lock)
is caught while the check runs, and fails the check.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.db.checksql import sql_problems, words
from tests.helpers import Result, cli, fingerprint, fresh_database, query
from tests.plans import phased

MARKER = Path(f"/tmp/migrator-hostile-{os.getpid()}-{uuid.uuid4().hex[:8]}")

SETUP = """
create table accounts (id int primary key, owner text);
insert into accounts values (1, 'ann'), (2, 'bob');
create sequence tickets;
do $$ begin create role hostile_anon nologin;
  exception when duplicate_object then null; end $$;
grant select, insert, update, delete on accounts to hostile_anon;
alter table accounts enable row level security;
create policy own on accounts to hostile_anon
  using (owner = current_setting('request.jwt.claim.sub', true))
  with check (owner = current_setting('request.jwt.claim.sub', true));
create function become_owner() returns int language plpgsql as $$
  begin perform set_config('role', 'postgres', false); return 1; end $$;
create function keep_lock() returns int language sql
  as $$ select pg_advisory_lock(4242); select 1 $$;
create function take_ticket() returns bigint language sql as $$ select nextval('tickets') $$;
grant execute on function become_owner(), keep_lock(), take_ticket() to hostile_anon;
"""

# What validate sees: each is refused in a query, an equals_query and a probe's sql.
VISIBLE = [
    "select 0; commit; drop table accounts; commit; select 0",
    "select 0; end; delete from accounts",
    "select 1; COMMIT WORK; insert into accounts values (3, 'eve')",
    "begin; delete from accounts; commit",
    "abort; delete from accounts",
    "savepoint s; release savepoint s",
    "prepare transaction 'x'",
    "do $$begin delete from accounts; end$$",
    "do $$begin commit; end$$",
    f"copy (select 1) to program 'touch {MARKER}'",
    f"COPY accounts TO PROGRAM 'touch {MARKER}'",
    "select pg_advisory_lock(1)",
    "select pg_try_advisory_lock_shared(1)",
    "select set_config('role', 'postgres', false); delete from accounts",
    "select set_config('default_transaction_read_only', 'off', false)",
    "reset role; delete from accounts",
    "set session authorization default; delete from accounts",
    "set role postgres; delete from accounts",
    "reset all; delete from accounts",
    "set session characteristics as transaction read write",
    "set transaction read write; delete from accounts",
    "call anything()",
    "select 1 /* a comment */; commit; select 1 -- 'commit'",
    "select 'x'; /* ; */ commit",
    "select dblink_exec('dbname=postgres', 'create table escaped (x int)')",
    "select pg_terminate_backend(pg_backend_pid())",
    f"select lo_export(1, '{MARKER}')",
    # Strings read otherwise by the server than by the rules (a review's find): refused.
    "set standard_conforming_strings = off; select 1",
    "select set_config('standard_conforming_strings', 'off', true)",
    # SQL text run by a function, where no rule reads it (a review's find): refused.
    "select count(*) from ts_stat('select to_tsvector(pg_terminate_backend(0)::text)')",
    "select query_to_xml('select set_config(''role'', ''postgres'', true)', true, true, '')",
    "select pg_stat_reset()",
    "select pg_replication_origin_create('hostile')",
    "select nextval('tickets')",
    # A statement that goes on past a `;`: a definition, its inner statements unread.
    "create function f() returns int language sql begin atomic delete from accounts; end",
    "create rule r as on select to accounts do instead (select 1; delete from accounts)",
]

# What hides in the database: validate lets them through; the check fails as it runs.
HIDDEN_QUERIES = ["select keep_lock()", "select take_ticket()"]
HIDDEN_PROBES = [
    "select become_owner(); delete from accounts",
    "select become_owner(); insert into accounts values (9, 'mallory')",
    "select become_owner()",
]


@pytest.fixture(scope="module")
def target(admin_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_database(admin_dsn, request.config) as dsn:
        query(dsn, SETUP)
        yield dsn


@pytest.fixture
def snapshot(target: str) -> Iterator[list[tuple[Any, ...]]]:
    """The target as it was; after the test, it must be the same, with nothing left."""
    before = _outside_migrator(target)
    yield before
    assert _outside_migrator(target) == before
    assert not MARKER.exists(), "a program ran on the database host"
    assert query(target, "select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]


def _outside_migrator(dsn: str) -> list[tuple[Any, ...]]:
    return [r for r in fingerprint(dsn) if "migrator" not in (r[0], r[1])]


def _plan(folder: Path, pre_checks: list[str], step: str = "drop table accounts") -> Path:
    """A plan whose pre-checks are `pre_checks`; its step (by default one that would show)
    runs only if they all pass."""
    path = folder / f"hostile-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(phased(path.stem, [f"{{sql: {step}}}"], pre_checks=pre_checks))
    return path


def _placements(sql: str) -> list[str]:
    quoted = json.dumps(sql)
    return [
        f"{{name: as a query, query: {quoted}, expect: 0}}",
        f"{{name: as an equals_query, query: select 1, expect: {{equals_query: {quoted}}}}}",
        f"name: as a probe\nrls_probe: {{as_role: hostile_anon, claims: {{sub: ann}}, "
        f"sql: {quoted}}}\nexpect: allowed",
    ]


def _clear(result: Result, code: int) -> None:
    assert result.code == code, result.text
    assert "Traceback" not in result.text, result.text


@pytest.mark.parametrize("sql", VISIBLE)
def test_what_validate_sees_is_refused_before_the_database_is_touched(
    tmp_path: Path, target: str, snapshot: Any, sql: str
) -> None:
    for check in _placements(sql):
        plan = _plan(tmp_path, [check])
        for command in (("plan",), ("apply", "--yes")):
            result = cli(*command, plan, "--to", "b", "--dsn", target)
            _clear(result, 2)
            # An equals_query of several statements is refused even before its words are
            # read: it must be one query.
            # (A probe's statements must read or write rows, which refuses some first.)
            assert (
                "may not send this SQL" in result.err
                or ("equals_query takes" in result.err and "equals_query" in check)
                or ("a probe reads or writes rows" in result.err and "rls_probe" in check)
            ), result.err
    assert query(target, "select to_regnamespace('migrator')") == [(None,)]


def test_what_hides_in_the_database_fails_the_check_as_it_runs(
    tmp_path: Path, target: str, snapshot: Any
) -> None:
    checks = [
        f"{{name: q{i}, query: {json.dumps(q)}, expect: 1}}" for i, q in enumerate(HIDDEN_QUERIES)
    ]
    checks += [
        f"name: p{i}\nrls_probe: {{as_role: hostile_anon, claims: {{sub: ann}}, "
        f"sql: {json.dumps(p)}}}\nexpect: allowed"
        for i, p in enumerate(HIDDEN_PROBES)
    ]
    # the lock keep_lock() took was released when its check ended, before the next one
    released = (
        "{name: released, query: select count(*) from pg_locks where locktype = 'advisory' "
        "and objid = 4242, expect: 0}"
    )
    plan = _plan(tmp_path, [checks[0], released, *checks[1:]])
    dry = cli("plan", plan, "--to", "b", "--dsn", target, "--output", "json")
    _clear(dry, 0)
    (transition,) = json.loads(dry.out)["path"]
    today = {c["name"]: c["today"] for c in transition["pre_checks"]}
    assert [n for n, t in today.items() if t["passed"]] == ["released"], today
    assert "advisory lock" in today["q0"]["detail"]
    assert "read-only transaction" in today["q1"]["detail"]
    for i in range(len(HIDDEN_PROBES)):
        assert today[f"p{i}"]["actual"] != "allowed", today
    run = cli("apply", plan, "--to", "b", "--dsn", target, "--yes")
    _clear(run, 1)
    events = query(
        target,
        "select step, status, detail from migrator.events where kind = 'check' order by id",
    )
    assert [status for _, status, _ in events] == ["failed", "passed"] + ["failed"] * (
        len(checks) - 1
    )
    for step, _, detail in events:
        if step.startswith("p"):
            assert detail["actual"] != "allowed"
            assert "changed the role from hostile_anon to postgres" in detail["detail"]


def test_a_probe_is_allowed_only_as_its_role_and_only_with_rows(
    tmp_path: Path, target: str, snapshot: Any
) -> None:
    probe = (
        "name: {n}\nrls_probe: {{as_role: hostile_anon, claims: {{sub: {sub}}}, sql: {sql}}}\n"
        "expect: {e}"
    )
    plan = _plan(
        tmp_path,
        [
            probe.format(n="ann deletes hers", sub="ann", sql="delete from accounts", e="allowed"),
            probe.format(n="eve deletes none", sub="eve", sql="delete from accounts", e="denied"),
            probe.format(n="eve reads none", sub="eve", sql="select * from accounts", e="denied"),
            probe.format(
                n="eve writes as ann",
                sub="eve",
                sql="\"insert into accounts values (7, 'ann')\"",
                e="denied",
            ),
            probe.format(
                n="as its role",
                sub="ann",
                sql="\"select 1 where current_user = 'hostile_anon'\"",
                e="allowed",
            ),
        ],
        step="select 1",
    )
    _clear(cli("apply", plan, "--to", "b", "--dsn", target, "--yes"), 0)
    events = dict(
        query(
            target,
            "select step, detail from migrator.events where kind = 'check' and run_id = "
            "(select max(id) from migrator.runs)",
        )
    )
    assert events["ann deletes hers"]["actual"] == "allowed"
    assert events["eve deletes none"]["actual"] == "denied"
    assert "RLS filtered the rows" in events["eve deletes none"]["detail"]
    assert events["eve reads none"]["actual"] == "denied"
    assert events["eve writes as ann"]["actual"] == "denied"
    assert events["as its role"]["actual"] == "allowed"


# -- hostile SQL built from fragments, through `migrator plan` ----------------------------

FRAGMENTS = st.sampled_from(
    [
        "select 0",
        "select count(*) from accounts",
        "delete from accounts",
        "insert into accounts values (5, 'eve')",
        "drop table accounts",
        "commit",
        "end",
        "COMMIT AND CHAIN",
        "rollback",
        "begin",
        "start transaction read write",
        "set transaction read write",
        "reset role",
        "reset all",
        "set role postgres",
        "set session authorization default",
        "select set_config('role', 'postgres', false)",
        "select set_config('transaction_read_only', 'off', true)",
        "select become_owner()",
        "select keep_lock()",
        "select take_ticket()",
        "select pg_advisory_lock(7)",
        "do $$begin delete from accounts; end$$",
        f"copy (select 1) to program 'touch {MARKER}'",
        "select 'commit; drop table accounts'",
        "select 1 -- ; commit",
        "select /* ; end; */ 1",
        "select $$; commit$$",
        'select 1 as "commit"',
        "savepoint s",
        "call p()",
        "create function f() returns int language sql begin atomic delete from accounts; end",
        "create rule r as on insert to accounts do also (delete from accounts; select 1)",
        "select (1; delete from accounts",
    ]
)
HOSTILE_SQL = st.lists(FRAGMENTS, min_size=1, max_size=5).map("; ".join)
PROBING = {"select", "with", "values", "table", "show", "insert", "update", "delete", "merge"}


def _refused(sql: str, probe: bool) -> bool:
    """Whether validate refuses `sql` as a check's query (or, `probe`, as a probe's SQL:
    then also a statement that does not read or write rows as the application would)."""
    if sql_problems(sql):
        return True
    return probe and any(s[0].kind != "word" or s[0].value not in PROBING for s in words(sql))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(sql=HOSTILE_SQL, probe=st.booleans())
def test_a_dry_run_changes_nothing_whatever_its_checks_send(
    tmp_path: Path, target: str, sql: str, probe: bool
) -> None:
    before = _outside_migrator(target)
    check = _placements(sql)[2 if probe else 0]
    result = cli("plan", _plan(tmp_path, [check]), "--to", "b", "--dsn", target, "--output", "json")
    assert "Traceback" not in result.text, result.text
    assert result.code == (2 if _refused(sql, probe) else 0), result.text
    if result.code == 0:
        (transition,) = json.loads(result.out)["path"]
        (today,) = [c["today"] for c in transition["pre_checks"]]
        if probe and today["actual"] == "allowed":
            # allowed only as the probe's role: the role never changed under it
            assert "become_owner" not in sql, today
    assert _outside_migrator(target) == before
    assert not MARKER.exists()
    assert query(target, "select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]


def test_a_database_reading_backslashes_the_old_way_hides_no_commit(
    admin_dsn: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With standard_conforming_strings off by the database's default, 'a\\'' ends the
    string for the server while the rules read one string on: the check's transaction
    turns it on, so the server reads what the rules read, and no COMMIT hides in it."""
    hidden = (
        "select 'a\\''; commit; begin read write; drop table accounts; commit; "
        "begin read only; select '\\''"
    )
    assert sql_problems(hidden) == []  # the rules read one string: nothing to refuse
    with fresh_database(admin_dsn, request.config) as dsn:
        query(dsn, SETUP)
        (name,) = query(dsn, "select current_database()")[0]
        query(dsn, f'alter database "{name}" set standard_conforming_strings = off')
        plan = _plan(tmp_path, [f"{{name: hidden, query: {json.dumps(hidden)}, expect: 1}}"])
        before = _outside_migrator(dsn)
        for command in (("plan",), ("apply", "--yes")):
            result = cli(*command, plan, "--to", "b", "--dsn", dsn)
            assert "Traceback" not in result.text, result.text
        assert query(dsn, "select to_regclass('accounts') is not null") == [(True,)]
        assert _outside_migrator(dsn) == before
