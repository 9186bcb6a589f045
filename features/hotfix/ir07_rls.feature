@ir07
Feature: A hotfix with row level security, proved without writing a row
  IR-07: the profiles table had row level security on and no policy, so every
  write was refused. The hotfix creates a policy, and probes prove the fix: the
  service role may write, anonymous users may not. `migrator rollback` takes the
  policy away again.

  Background:
    Given a Supabase-like database where profiles has row level security and no policy
    And the plan "ir07.yaml":
      """
      plan: ir-07
      kind: hotfix
      pre_checks:
        - name: no policy on profiles yet
          query: select count(*) from pg_policies where schemaname = 'public' and tablename = 'profiles'
          expect: 0
          on_fail: warn
        - name: service role writes are refused today
          rls_probe:
            as_role: service_role
            claims: {role: service_role}
            sql: insert into profiles (session_id, results_version) values (1, 'v1.2.1')
          expect: denied
          on_fail: warn
      steps:
        - name: Fix A
          policy:
            table: public.profiles
            name: Service role can manage profiles
            command: ALL
            to: public
            using: auth.role() = 'service_role'
            with_check: auth.role() = 'service_role'
      post_checks:
        - policy_exists: {table: profiles, name: Service role can manage profiles}
        - name: service role can write
          rls_probe:
            as_role: service_role
            claims: {role: service_role}
            sql: insert into profiles (session_id, results_version) values (1, 'v1.2.1')
          expect: allowed
        - name: anonymous users cannot
          rls_probe:
            as_role: anon
            claims: {role: anon}
            sql: insert into profiles (session_id, results_version) values (1, 'v1.2.1')
          expect: denied
      """

  Scenario: Apply the hotfix
    When I run "migrator apply ir07.yaml"
    Then the exit code is 0
    And the output contains "pre-check service role writes are refused today: passed (actual denied, expected denied)"
    And the output contains "post-check service role can write: passed (actual allowed, expected allowed)"
    And the query "select count(*) from pg_policies where tablename = 'profiles'" returns "1"
    And the query "select count(*) from profiles" returns "0"

  Scenario: Roll the hotfix back
    Given I ran "migrator apply ir07.yaml"
    When I run "migrator rollback ir07.yaml"
    Then the exit code is 0
    And the query "select count(*) from pg_policies where tablename = 'profiles'" returns "0"
    And the plan "ir-07" is in phase "pending"
