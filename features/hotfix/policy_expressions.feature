Feature: policy_exists compares a policy's expressions by PostgreSQL
  A plan may expect a policy's USING and WITH CHECK expressions, written as people write
  SQL. PostgreSQL reads both the plan's expression and the policy's (through a read-only
  EXPLAIN over the policy's table, which no writer waits on), so the check passes when the
  server makes the same expression of both, whatever the spacing, casts, IN lists or
  subselects, on every supported version. When they differ, the check fails and shows
  both as the server reads them. Operands stay in their order: `a and b` is not `b and a`.
  A subquery's aliases are the writer's choice. Planning may run functions (it folds an
  IMMUTABLE one called with constants), so a function the table's owner wrote in a
  procedural language that the planner could run is never run by the check: the check
  fails, naming it, and the policy is compared by hand.

  Background:
    Given a Supabase-like database where profiles has row level security and no policy
    And the SQL:
      """
      create table memberships (session_id int, user_id uuid);
      create policy "members read their profiles" on profiles for select to authenticated
        using (session_id in (select m.session_id from memberships m where m.user_id = auth.uid())
               and results_version <> 'draft');
      """

  Scenario: The policy is the expression the plan expects
    Given the plan "expected.yaml":
      """
      plan: expected
      kind: hotfix
      pre_checks:
        - name: members read their profiles
          policy_exists:
            table: profiles
            name: members read their profiles
            using: >
              session_id IN (SELECT m.session_id FROM memberships m WHERE m.user_id = auth.uid())
              AND results_version <> 'draft'
      steps: [{sql: select 1}]
      """
    When I run "migrator apply expected.yaml"
    Then the exit code is 0
    And the output contains "pre-check members read their profiles: passed"

  Scenario: The policy is another expression: the check names the difference
    Given the plan "other.yaml":
      """
      plan: other
      kind: hotfix
      pre_checks:
        - name: members read their profiles
          policy_exists:
            table: profiles
            name: members read their profiles
            using: >
              session_id IN (SELECT m.session_id FROM memberships m WHERE m.user_id = auth.uid())
              AND results_version <> 'final'
      steps: [{sql: select 1}]
      """
    When I run "migrator apply other.yaml"
    Then the exit code is 1
    And the output contains "pre-check members read their profiles: failed"
    And the output contains "using differs: the policy's is "
    And the output contains "results_version <> 'draft'::text)"
    And the output contains "results_version <> 'final'::text)"
    And the output contains "(both as PostgreSQL reads them)"

  Scenario: Text that is not one expression is refused before anything runs
    Given the plan "hostile.yaml":
      """
      plan: hostile
      kind: hotfix
      pre_checks:
        - policy_exists:
            table: profiles
            name: members read their profiles
            using: "true) or (select pg_sleep(1)"
      steps: [{sql: select 1}]
      """
    When I run "migrator apply hostile.yaml"
    Then the exit code is 2
    And the output contains "not one SQL expression: a `)` closes more than it opened"

  Scenario: A subquery's alias is the writer's choice
    Given the plan "unaliased.yaml":
      """
      plan: unaliased
      kind: hotfix
      pre_checks:
        - name: members read their profiles
          policy_exists:
            table: profiles
            name: members read their profiles
            using: >
              session_id IN (SELECT session_id FROM memberships WHERE user_id = auth.uid())
              AND results_version <> 'draft'
      steps: [{sql: select 1}]
      """
    When I run "migrator apply unaliased.yaml"
    Then the exit code is 0
    And the output contains "pre-check members read their profiles: passed"

  Scenario: A policy calling a function the planner would run is not compared
    Given the SQL:
      """
      create function public.always() returns boolean language plpgsql immutable
        as $f$ begin return true; end $f$;
      create policy "always" on profiles for select using (always());
      """
    And the plan "always.yaml":
      """
      plan: always
      kind: hotfix
      pre_checks:
        - name: always
          policy_exists:
            table: profiles
            name: always
            using: "true"
      steps: [{sql: select 1}]
      """
    When I run "migrator apply always.yaml"
    Then the exit code is 1
    And the output contains "pre-check always: failed"
    And the output contains "it cannot be compared safely: the expressions call public.always() (plpgsql, IMMUTABLE)"

  Scenario: A locking clause is refused before anything runs
    Given the plan "locking.yaml":
      """
      plan: locking
      kind: hotfix
      pre_checks:
        - policy_exists:
            table: profiles
            name: members read their profiles
            using: "exists (select 1 from memberships for update)"
      steps: [{sql: select 1}]
      """
    When I run "migrator apply locking.yaml"
    Then the exit code is 2
    And the output contains "it holds a locking clause (FOR UPDATE): it would lock rows"
