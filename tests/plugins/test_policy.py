"""RLS policies, the RLS switches, policy_exists and rls_probe, on a Supabase-like database."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.demo import sql_text


@pytest.fixture
def ir07(sql: Any) -> None:
    """IR-07's broken state: profiles has row level security on, and no policy."""
    sql(sql_text("supabase.sql"))
    sql(
        "create table profiles (id bigserial primary key, session_id int unique, "
        "results_version text); "
        "grant all on profiles to anon, authenticated, service_role; "
        "grant all on sequence profiles_id_seq to anon, authenticated, service_role; "
        "alter table profiles enable row level security"
    )


HOTFIX = """\
plan: ir-07
kind: hotfix
pre_checks:
  - name: service role writes are refused today
    rls_probe:
      as_role: service_role
      claims: {role: service_role}
      sql: insert into profiles (session_id, results_version) values (1, 'v1.2.1')
    expect: denied
    on_fail: warn
steps:
  - name: service role can manage profiles
    policy:
      table: public.profiles
      name: Service role can manage profiles
      command: all
      to: public
      using: auth.role() = 'service_role'
      with_check: auth.role() = 'service_role'
post_checks:
  - policy_exists:
      table: profiles
      name: Service role can manage profiles
      command: ALL
      roles: [public]
      using: auth.role() = 'service_role'
  - name: the service role can write now
    rls_probe:
      as_role: service_role
      claims: {role: service_role}
      sql: insert into profiles (session_id, results_version) values (1, 'v1.2.1')
    expect: allowed
  - name: anonymous writes stay refused
    rls_probe:
      as_role: anon
      claims: {role: anon}
      sql: insert into profiles (session_id, results_version) values (2, 'v1.2.1')
    expect: denied
"""


def policies(sql: Any) -> list[tuple[Any, ...]]:
    return sql("select * from pg_policies where tablename = 'profiles' order by policyname")


def test_the_ir07_fix_is_proved_by_probes_and_rolled_back(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    plan = write_plan(HOTFIX)
    result = migrator("apply", plan)
    assert result.code == 0, result.out
    probes = sql(
        "select step, status, detail->>'actual' from migrator.events "
        "where kind = 'check' and detail->>'check' = 'rls_probe' order by id"
    )
    assert probes == [
        ("service role writes are refused today", "passed", "denied"),
        ("the service role can write now", "passed", "allowed"),
        ("anonymous writes stay refused", "passed", "denied"),
    ]
    assert sql("select count(*) from profiles") == [(0,)]  # the probes left no row behind
    (row,) = policies(sql)
    assert row[2] == "Service role can manage profiles"
    assert row[6] == "(auth.role() = 'service_role'::text)"
    assert migrator("rollback", plan).code == 0
    assert policies(sql) == []


def test_replacing_a_policy_and_undoing_restores_it_character_for_character(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    sql(
        'create policy "Service role can manage profiles" on profiles as restrictive '
        "for update to authenticated, anon "
        "using (auth.uid() is not null and results_version like 'v1.%') "
        "with check (session_id > 0)"
    )
    before = policies(sql)
    plan = write_plan(HOTFIX.replace("kind: hotfix", "kind: hotfix\ndescription: replace it"))
    assert migrator("apply", plan).code == 0
    assert policies(sql) != before
    assert migrator("rollback", plan).code == 0
    assert policies(sql) == before


def test_a_failed_post_check_restores_the_earlier_policy(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    sql(
        'create policy "Service role can manage profiles" on profiles for select to anon '
        "using (true)"
    )
    before = policies(sql)
    broken = HOTFIX.replace("expect: allowed", "expect: denied")
    result = migrator("apply", write_plan(broken))
    assert result.code == 1
    assert policies(sql) == before


def test_rls_switches_and_their_undo(migrator: Any, write_plan: Any, sql: Any, ir07: None) -> None:
    plan = write_plan(
        """\
        plan: rls-off
        kind: hotfix
        steps:
          - rls: {table: profiles, enable: false}
          - rls: {table: public.profiles, enable: true, force: true}
        post_checks:
          - query: select relforcerowsecurity from pg_class where relname = 'profiles'
            expect: true
        """
    )
    state = "select relrowsecurity, relforcerowsecurity from pg_class where relname = 'profiles'"
    assert sql(state) == [(True, False)]
    assert migrator("apply", plan).code == 0
    assert sql(state) == [(True, True)]
    assert migrator("rollback", plan).code == 0
    assert sql(state) == [(True, False)]


def test_policy_exists_reports_what_differs(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    sql("create policy p on profiles for select to anon using (true)")
    plan = write_plan(
        """\
        plan: exists
        kind: hotfix
        pre_checks:
          - policy_exists: {table: profiles, name: p, command: insert, roles: [authenticated]}
        steps: [{sql: select 1}]
        """
    )
    assert migrator("apply", plan).code == 1
    detail = sql("select detail->>'detail' from migrator.events where kind = 'check'")[0][0]
    assert detail == "command is SELECT, not INSERT; roles are anon, not authenticated"


def test_a_missing_table_fails_the_step_clearly(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    plan = write_plan(HOTFIX.replace("table: public.profiles", "table: public.profilez"))
    result = migrator("apply", plan)
    assert result.code == 1
    assert "table public.profilez does not exist" in result.out


def test_a_probe_in_a_dry_run_says_it_was_not_run(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    result = migrator("plan", write_plan(HOTFIX))
    assert result.code == 0
    assert "not probed: a dry run is read-only and this writes" in result.out
    assert sql("select count(*) from profiles") == [(0,)]


def test_the_older_per_claim_settings_are_set_too(
    migrator: Any, write_plan: Any, sql: Any, ir07: None
) -> None:
    sql("create table claims_seen (role text)")
    sql("grant all on claims_seen to service_role")
    plan = write_plan(
        """\
        plan: claims
        kind: hotfix
        pre_checks:
          - rls_probe:
              as_role: service_role
              claims: {role: service_role, sub: 7b0c5b1e-0000-4000-8000-000000000001}
              sql: >
                insert into claims_seen select current_setting('request.jwt.claim.role')
                where auth.uid() = '7b0c5b1e-0000-4000-8000-000000000001'
                and current_user = 'service_role'
            expect: allowed
          - query: select count(*) from claims_seen
            expect: 0
        steps: [{sql: select 1}]
        """
    )
    assert migrator("apply", plan).code == 0
