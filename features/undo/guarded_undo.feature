Feature: An undo restores only what it changed
  The undo of a `policy` or `rls` step puts back exactly what was there before the
  step: a policy with its command, its expressions and its roles (a role named
  `Public` is not PUBLIC). It first checks that the object is still as the step
  left it; if someone changed it since, the undo changes nothing and fails (exit 3),
  naming the difference, instead of overwriting that change. What it runs is
  rebuilt from the fields the step recorded, never SQL text read back from the
  audit trail: a memo edited there is refused, not executed.

  Background:
    Given the SQL:
      """
      do $$ begin create role "Public" nologin; exception when duplicate_object then null; end $$;
      do $$ begin create role "we""ird role" nologin; exception when duplicate_object then null; end $$;
      do $$ begin create role authenticated nologin; exception when duplicate_object then null; end $$;
      create table t (owner text, v int);
      alter table t enable row level security;
      create policy p on t for select to "Public", "we""ird role" using (owner = current_user);
      """
    And the plan "x.yaml":
      """
      plan: x
      kind: hotfix
      steps:
        - name: x replaces p
          policy: {table: t, name: p, command: select, to: authenticated, using: v > 0}
      """
    And the plan "y.yaml":
      """
      plan: y
      kind: hotfix
      steps:
        - name: y replaces p
          policy: {table: t, name: p, command: select, to: public, using: "true"}
      """

  Scenario: A policy comes back exactly, roles included
    Given I ran "migrator apply x.yaml"
    When I run "migrator rollback x.yaml"
    Then the exit code is 0
    And the query "select string_agg(coalesce(a.rolname, 'PUBLIC'), ', ' order by r.n) from pg_policy p, unnest(p.polroles) with ordinality r(oid, n) left join pg_roles a on a.oid = r.oid" returns "Public, we"ird role"
    And the query "select pg_get_expr(polqual, polrelid) from pg_policy" returns "(owner = CURRENT_USER)"

  Scenario: An undo does not overwrite a change made after its step
    Given I ran "migrator apply x.yaml"
    And I ran "migrator apply y.yaml"
    When I run "migrator rollback x.yaml"
    Then the exit code is 3
    And the output contains "policy "p" on public.t is not as its step left it: its roles are PUBLIC, the step left "authenticated"; using is `true`, the step left `(v > 0)`; the undo changed nothing"
    And the query "select pg_get_expr(polqual, polrelid) from pg_policy" returns "true"
    When I run "migrator rollback y.yaml"
    Then the exit code is 0
    And the query "select pg_get_expr(polqual, polrelid) from pg_policy" returns "(v > 0)"
    When I run "migrator rollback x.yaml"
    Then the exit code is 0
    And the output contains "finishing it"
    And the query "select pg_get_expr(polqual, polrelid) from pg_policy" returns "(owner = CURRENT_USER)"

  Scenario: A memo edited in the audit trail, its hash chain forged too, is refused, never executed
    Given I ran "migrator apply x.yaml"
    And the SQL:
      """
      update migrator.events
         set detail = jsonb_set(detail, '{memo,previous,using}', to_jsonb('true); create table pwned (x int); --'::text))
       where kind = 'step' and status = 'done';
      """
    And the audit trail's hashes are computed again, as a forger would
    When I run "migrator rollback x.yaml"
    Then the exit code is 3
    And the output contains "holds a `using` that is not one SQL expression (a `)` closes more than it opened); nothing was executed"
    And the query "select to_regclass('pwned') is null" returns "True"
    And the query "select pg_get_expr(polqual, polrelid) from pg_policy" returns "(v > 0)"

  Scenario: Row level security switched by someone else is not switched back
    Given the plan "rls.yaml":
      """
      plan: rls
      kind: hotfix
      steps:
        - rls: {table: t, enable: false}
      """
    And I ran "migrator apply rls.yaml"
    And the SQL:
      """
      alter table t enable row level security;
      """
    When I run "migrator rollback rls.yaml"
    Then the exit code is 3
    And the output contains "row level security of public.t is not as its step left it: it is enabled, not forced, the step left it disabled, not forced; the undo changed nothing"
    And the query "select relrowsecurity from pg_class where relname = 't'" returns "True"
