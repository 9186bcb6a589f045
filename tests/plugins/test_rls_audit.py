"""The RLS audit: `migrator.audit` on a real PostgreSQL, and the `rls_audit` check in a plan."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from migrator.api import Context, OutputFormat
from migrator.errors import DatabaseUnreachable, ExitCode, UsageError
from migrator.rls.holes import (
    Finding,
    audit_rls,
    find_rls_holes,
    is_literal_true,
    select_findings,
    summary_line,
)
from migrator.views.rlsaudit import render_findings

ROLES = """
do $$ begin create role anon nologin; exception when duplicate_object then null; end $$;
do $$ begin create role authenticated nologin; exception when duplicate_object then null; end $$;
do $$ begin create role service_role nologin; exception when duplicate_object then null; end $$;
"""

IR07 = """
create table profiles (id bigserial primary key, session_id int unique, results_version text);
grant all on profiles to anon, authenticated, service_role;
alter table profiles enable row level security;
"""

SERVICE_POLICY = (
    'create policy "Service role can manage profiles" on profiles for all to public '
    "using (current_user = 'service_role') with check (current_user = 'service_role')"
)


@pytest.fixture
def roles(sql: Any) -> None:
    """The API roles of a Supabase-like project (cluster-wide, created once)."""
    sql(ROLES)


@pytest.fixture
def ir07(sql: Any, roles: None) -> None:
    """IR-07's broken state: profiles has row level security on, and no policy."""
    sql(IR07)


@pytest.fixture
def conn(database: str) -> Iterator[Any]:
    """A SQLAlchemy connection to the test database, as the engine hands to checks."""
    from migrator.db.target import Target, connect_engine

    engine = connect_engine(Target(database, "--dsn"))
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def holes(conn: Any, schemas: list[str] | None = None, **options: Any) -> list[Finding]:
    """Audit what other connections committed: a fresh snapshot each time."""
    conn.rollback()
    return find_rls_holes(conn, schemas, **options)


def brief(findings: list[Finding]) -> list[tuple[str, str, str | None, tuple[str, ...]]]:
    return [(f.kind, f.qualified_table, f.policy, f.roles) for f in findings]


# -- the library -------------------------------------------------------------------------


def test_ir07_is_found_as_rls_without_policy_until_a_policy_exists(
    sql: Any, conn: Any, ir07: None
) -> None:
    (finding,) = holes(conn)
    assert finding.kind == "rls_without_policy"
    assert finding.severity == "error"
    assert (finding.schema, finding.table, finding.policy) == ("public", "profiles", None)
    assert "no policy" in finding.detail
    sql(SERVICE_POLICY)
    assert holes(conn) == []


def test_force_rls_is_named_and_other_schemas_are_audited_by_default(
    sql: Any, conn: Any, roles: None
) -> None:
    sql(
        "create schema private; create table private.notes (id int); "
        "alter table private.notes enable row level security; "
        "alter table private.notes force row level security"
    )
    (finding,) = holes(conn)
    assert (finding.kind, finding.qualified_table) == ("rls_without_policy", "private.notes")
    assert "the owner too" in finding.detail
    assert holes(conn, ["public"]) == []  # --schema limits the audit


@pytest.mark.parametrize(
    "policy",
    [
        "for select to anon using (true)",
        "for select to anon using (TRUE)",
        "for all to anon, authenticated using ( ( true ) )",
        "for insert to anon with check (true)",
        "for update to public using (id > 0) with check (true)",
    ],
)
def test_an_allow_all_policy_to_an_api_role_is_found(
    sql: Any, conn: Any, roles: None, policy: str
) -> None:
    sql("create table posts (id int); alter table posts enable row level security")
    sql(f"create policy open on posts {policy}")
    (finding,) = holes(conn)
    assert finding.kind == "allow_all_policy"
    assert finding.severity == "warning"
    assert (finding.qualified_table, finding.policy) == ("public.posts", "open")
    assert set(finding.roles) <= {"anon", "authenticated", "public"} and finding.roles
    assert "(true)" in finding.detail


@pytest.mark.parametrize(
    "policy",
    [
        "for select to anon using (id > 0)",
        "for select to anon using (true or id > 0)",  # not the literal true (an audit is no prover)
        "for select to service_role using (true)",  # not an API role
        "as restrictive for select to anon using (true)",  # restrictive: narrows only
    ],
)
def test_policies_that_are_not_allow_all_to_an_api_role_are_not_found(
    sql: Any, conn: Any, roles: None, policy: str
) -> None:
    sql("create table posts (id int); alter table posts enable row level security")
    sql(f"create policy guarded on posts {policy}")
    assert holes(conn) == []


def test_a_public_table_without_rls_granted_to_anon_is_found(
    sql: Any, conn: Any, roles: None
) -> None:
    sql(
        "create table leaky (id int, secret text); grant select, insert on leaky to anon; "
        "create table columns_only (id int, secret text); "
        "grant select (id) on columns_only to authenticated; "
        "create table internal (id int); "  # no grant to an API role: not exposed
        "create schema reporting; create table reporting.daily (id int); "
        "grant select on reporting.daily to anon"
    )
    assert brief(holes(conn)) == [
        ("exposed_without_rls", "public.columns_only", None, ("authenticated",)),
        ("exposed_without_rls", "public.leaky", None, ("anon",)),
    ]
    leaky = holes(conn)[1]
    assert leaky.severity == "warning"
    assert "anon can SELECT, INSERT" in leaky.detail
    # reporting is not exposed unless asked for; then it is the exposed schema
    assert brief(holes(conn, ["reporting"])) == [
        ("exposed_without_rls", "reporting.daily", None, ("anon",))
    ]


def test_without_the_api_roles_public_privileges_count(sql: Any, conn: Any) -> None:
    sql("create table open_to_all (id int); grant select on open_to_all to public")
    (finding,) = holes(conn, exposed_roles=("no_such_api_role",))
    assert (finding.kind, finding.roles) == ("exposed_without_rls", ("public",))
    assert "public can SELECT" in finding.detail


def test_a_clean_schema_has_no_findings(sql: Any, conn: Any, roles: None) -> None:
    sql(IR07)
    sql(SERVICE_POLICY)
    sql("create table plain (id int)")  # no RLS, but no API role may touch it
    assert holes(conn) == []
    assert rendered([]) == "no RLS holes found\n"


def test_findings_are_sorted_errors_first_then_by_table(sql: Any, conn: Any, roles: None) -> None:
    sql(
        "create table b_open (id int); grant select on b_open to anon; "
        "create table a_open (id int); grant select on a_open to anon; "
        "create table z_locked (id int); alter table z_locked enable row level security; "
        "create table m_posts (id int); alter table m_posts enable row level security; "
        "create policy everyone on m_posts to anon using (true)"
    )
    found = holes(conn)
    assert [(f.kind, f.table) for f in found] == [
        ("rls_without_policy", "z_locked"),
        ("allow_all_policy", "m_posts"),
        ("exposed_without_rls", "a_open"),
        ("exposed_without_rls", "b_open"),
    ]
    assert holes(conn) == found
    assert select_findings(found, tables=["public.b_open", "z_locked"], kinds=None) == [
        found[0],
        found[3],
    ]
    assert select_findings(found, kinds=["allow_all_policy"]) == [found[1]]
    text = rendered(found).splitlines()
    assert text[0].split() == ["SEVERITY", "FINDING", "DETAIL"]
    assert text[2].split()[:2] == ["error", "rls_without_policy"]
    assert text[3].split()[0] == "public.z_locked"
    assert text[-1] == "4 findings: 1 error, 3 warnings"


def rendered(found: list[Finding], width: int = 100) -> str:
    out = io.StringIO()
    render_findings(found, summary_line(found), out, width=width)
    return out.getvalue()


@pytest.mark.parametrize(
    ("expression", "verdict"),
    [
        ("true", True),
        ("TRUE", True),
        (" ( true ) ", True),
        ("((True))", True),
        ("(true) or (false)", False),
        ("(id > 0)", False),
        ("1 = 1", False),
        ("truest", False),
        (None, False),
    ],
)
def test_literal_true(expression: str | None, verdict: bool) -> None:
    assert is_literal_true(expression) is verdict


# -- the command's library function --------------------------------------------------------


def _audit(database: str, output: OutputFormat = "text", schemas: list[str] | None = None) -> Any:
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(out=out, err=err, dsn=database, output=output)
    code = audit_rls(ctx, schemas)
    return code, out.getvalue()


def test_audit_rls_json_and_exit_codes(sql: Any, database: str, ir07: None) -> None:
    sql("create table leaky (id int); grant select on leaky to anon")
    code, out = _audit(database, "json")
    assert code == ExitCode.CHECK_FAILED  # an error-severity finding
    document = json.loads(out)
    assert document["findings"][0] == {
        "kind": "rls_without_policy",
        "severity": "error",
        "schema": "public",
        "table": "profiles",
        "policy": None,
        "roles": [],
        "detail": document["findings"][0]["detail"],
    }
    assert [f["kind"] for f in document["findings"]] == [
        "rls_without_policy",
        "exposed_without_rls",
    ]
    summary = document["summary"]
    assert (summary["findings"], summary["errors"], summary["warnings"]) == (2, 1, 1)
    assert summary["by_kind"]["exposed_without_rls"] == 1
    assert summary["exposed_schemas"] == ["public"]
    assert summary["exit_code"] == 1
    sql(SERVICE_POLICY)
    code, out = _audit(database, "json")
    assert code == ExitCode.OK  # warnings alone do not fail the audit
    assert json.loads(out)["summary"]["errors"] == 0


def test_audit_rls_text_writes_nothing(sql: Any, database: str, ir07: None) -> None:
    code, out = _audit(database)
    lines = out.splitlines()
    assert code == ExitCode.CHECK_FAILED
    assert "rls_without_policy" in lines[2] and "public.profiles" in lines[3]
    assert lines[-1] == "1 finding: 1 error, 0 warnings"
    assert sql("select to_regnamespace('migrator') is null") == [(True,)]  # read only
    sql("create schema private")
    code, out = _audit(database, schemas=["private"])
    assert (code, out) == (ExitCode.OK, "no RLS holes found\n")


def test_audit_rls_refuses_an_unknown_schema_and_an_unreachable_database(
    database: str, roles: None
) -> None:
    with pytest.raises(UsageError, match="no such schema: publik"):
        _audit(database, schemas=["public", "publik"])
    with pytest.raises(DatabaseUnreachable) as raised:
        _audit("postgresql://nobody:hunter2@127.0.0.1:1/none")
    assert raised.value.exit_code == ExitCode.UNREACHABLE
    assert "hunter2" not in raised.value.message


# -- the rls_audit check in a plan ---------------------------------------------------------


def hotfix(step_sql: str, rollback_sql: str, audit: str = "{tables: [profiles]}") -> str:
    return f"""\
plan: ir-07-audit
kind: hotfix
steps:
  - name: service role can manage profiles
    sql: {step_sql}
    rollback: {{sql: {rollback_sql}}}
post_checks:
  - name: no RLS hole left on profiles
    rls_audit: {audit}
"""


def policies(sql: Any, table: str = "profiles") -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = sql(
        "select policyname from pg_policies where tablename = %s order by 1", table
    )
    return rows


def check_events(sql: Any) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = sql(
        "select status, detail->>'actual', detail->>'expected' from migrator.events "
        "where kind = 'check' and detail->>'check' = 'rls_audit' order by id"
    )
    return rows


def test_the_rls_audit_post_check_fails_and_the_run_is_undone_when_profiles_has_no_policy(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    sql("create table sessions (id int); alter table sessions enable row level security")
    # the wrong table: the policy lands on sessions, profiles keeps no policy
    plan = write_plan(
        hotfix(
            "create policy service on sessions to public using (true)",
            "drop policy service on sessions",
        )
    )
    result = migrator("apply", plan)
    assert result.code == 1, result.out
    assert policies(sql, "sessions") == []  # the step was undone
    assert check_events(sql) == [
        ("failed", "1 finding: rls_without_policy public.profiles", "no findings")
    ]
    assert sql("select status from migrator.runs") == [("undone",)]


def test_the_rls_audit_post_check_passes_once_the_policy_step_created_it(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    plan = write_plan(
        hotfix(
            'create policy "Service role can manage profiles" on profiles to public '
            "using (current_user = 'service_role')",
            'drop policy "Service role can manage profiles" on profiles',
        )
    )
    assert migrator("validate", plan).code == 0
    result = migrator("apply", plan)
    assert result.code == 0, result.out
    assert policies(sql) == [("Service role can manage profiles",)]
    assert check_events(sql) == [("passed", "0 findings", "no findings")]
    assert migrator("rollback", plan).code == 0
    assert policies(sql) == []


@pytest.mark.parametrize(
    ("audit", "passes", "detail"),
    [
        ("{tables: [profilez]}", False, "no such table: profilez"),
        ("{schemas: [publik]}", False, "no such schema: publik"),
        ("{tables: [leaky]}", False, "exposed_without_rls"),
        ("{tables: [public.leaky], kinds: [rls_without_policy]}", True, ""),
        ("{kinds: [exposed_without_rls]}\n    expect: 1", True, "exposed_without_rls"),
        ("{}", False, "rls_without_policy"),
    ],
)
def test_the_rls_audit_check_scope(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    ir07: None,
    audit: str,
    passes: bool,
    detail: str,
) -> None:
    sql("create table leaky (id int); grant select on leaky to anon")
    plan = write_plan(hotfix("create table marker (id int)", "drop table marker", audit=audit))
    result = migrator("apply", plan)
    assert result.code == (0 if passes else 1), result.out
    (row,) = sql("select detail->>'detail' from migrator.events where kind = 'check'")
    assert detail in row[0]
    assert sql("select to_regclass('marker') is not null") == [(passes,)]
