Feature: What steps do, and how each is taken back
  Besides SQL, a step can set a flag, switch row level security, or ask a person
  to do something. Each kind knows its own way back. A step that changes the
  schema waits a bounded time for its lock, names who held it, and tries again.
  Every step, undo and check starts from the same session state: a session-level
  SET lasts only until its step ends, and validate warns about one.

  Scenario: A manual step needs a person: without one, nothing stays applied
    Given the plan "deploy.yaml":
      """
      plan: deploy
      kind: hotfix
      steps:
        - {name: ready, flag: {name: FUNCTIONS_READY, value: true}}
        - name: deploy the edge functions
          manual: Deploy score_prism and finalizeAssessment through CI/CD
      """
    When I run "migrator apply deploy.yaml"
    Then the exit code is 1
    And the output contains "manual step: Deploy score_prism and finalizeAssessment through CI/CD"
    And the output contains "a manual step needs a person: run at a terminal, or confirm with --yes"
    And the query "select count(*) from migrator.flags" returns "0"
    When I run "migrator apply deploy.yaml --yes --operator dana"
    Then the exit code is 0
    And the query "select detail->'memo'->>'confirmed_by' from migrator.events where step = 'deploy the edge functions' and status = 'done'" returns "dana"

  Scenario: Row level security is switched on, and back off by the rollback
    Given the SQL:
      """
      create table profiles (id int);
      """
    And the plan "lock-down.yaml":
      """
      plan: lock-down
      kind: hotfix
      steps:
        - name: protect profiles
          rls: {table: profiles, enable: true}
      """
    When I run "migrator apply lock-down.yaml"
    Then the exit code is 0
    And the query "select relrowsecurity from pg_class where relname = 'profiles'" returns "True"
    When I run "migrator rollback lock-down.yaml"
    Then the exit code is 0
    And the query "select relrowsecurity from pg_class where relname = 'profiles'" returns "False"

  Scenario: A schema change waiting for its lock names who holds it, and tries again
    Given the SQL:
      """
      create table accounts (id int);
      """
    And the plan "column.yaml":
      """
      plan: column
      kind: hotfix
      steps:
        - name: add a note column
          sql: alter table accounts add column note text
          lock_timeout: 1s
          rollback: {sql: alter table accounts drop column note}
      """
    And another session holds a lock on "accounts" until the step is tried again
    When I run "migrator apply column.yaml"
    Then the exit code is 0
    And the output contains "add a note column (sql): retry"
    And the output contains "blocked by pid"
    And the output contains "lock table accounts in access exclusive mode"
    And the query "select count(*) from information_schema.columns where table_name = 'accounts' and column_name = 'note'" returns "1"

  Scenario: A step that runs longer than its timeout is stopped, and the run undone
    Given the plan "slow.yaml":
      """
      plan: slow
      kind: hotfix
      steps:
        - {name: mark, sql: create table marked (x int), rollback: {sql: drop table marked}}
        - {name: a long query, sql: select pg_sleep(30), timeout: 500ms}
      """
    When I run "migrator apply slow.yaml"
    Then the exit code is 1
    And the output contains "a long query (sql): failed — canceling statement due to statement timeout"
    And the query "select to_regclass('marked') is null" returns "True"

  @read_only
  Scenario: validate warns about a step that cannot be taken back in a plan that has a way back
    Given the plan "oneway.yaml":
      """
      plan: oneway
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: drop the old view, sql: drop view if exists old_scores, rollback: irreversible}
          post_checks: [{query: select 1, expect: 1}]
        - name: back
          from: after
          to: before
          steps: [{sql: select 1, rollback: irreversible}]
          post_checks: [{query: select 1, expect: 1}]
      """
    When I run "migrator validate oneway.yaml"
    Then the exit code is 0
    And the output contains "warning: step 'drop the old view' is irreversible, but the plan has a way back from 'after' to 'before'"

  Scenario: A flag step is undone by restoring the value it replaced, and a new flag is removed
    Given the plan "rollout.yaml":
      """
      plan: rollout
      kind: hotfix
      steps:
        - {name: write both sides, flag: {name: WRITE_EXPLODED, value: true}}
        - {name: a quarter of the users, flag: {name: ROLLOUT, value: {percent: 25, regions: [eu]}}}
      """
    And I ran "migrator apply rollout.yaml"
    And the plan "cutover.yaml":
      """
      plan: cutover
      kind: hotfix
      steps:
        - {name: stop exploded writes, flag: {name: WRITE_EXPLODED, value: false}}
        - {name: everyone, flag: {name: ROLLOUT, value: {percent: 100}}}
        - {name: read unified, flag: {name: READ_UNIFIED, value: true}}
      """
    When I run "migrator apply cutover.yaml"
    Then the exit code is 0
    And the flags are "READ_UNIFIED=true, ROLLOUT={"percent": 100}, WRITE_EXPLODED=false"
    When I run "migrator rollback cutover.yaml"
    Then the exit code is 0
    And the flags are "ROLLOUT={"percent": 25, "regions": ["eu"]}, WRITE_EXPLODED=true"

  Scenario: A failed run puts every flag back as it was, and removes the flags it created
    Given the plan "rollout.yaml":
      """
      plan: rollout
      kind: hotfix
      steps:
        - {name: write both sides, flag: {name: WRITE_EXPLODED, value: true}}
      """
    And I ran "migrator apply rollout.yaml"
    And the plan "cutover.yaml":
      """
      plan: cutover
      kind: hotfix
      steps:
        - {name: stop exploded writes, flag: {name: WRITE_EXPLODED, value: false}}
        - {name: read unified, flag: {name: READ_UNIFIED, value: true}}
      post_checks:
        - {name: the unified table is complete, query: select 1, expect: 2}
      """
    When I run "migrator apply cutover.yaml"
    Then the exit code is 1
    And the audit trail of plan "cutover" shows the undo of "read unified, stop exploded writes"
    And the flags are "WRITE_EXPLODED=true"

  Scenario: A flag kept in the application's file is written there, and the rollback restores the file
    Given the file "flags.json":
      """
      {"WRITE_EXPLODED": true, "THEME": "dark"}
      """
    And the plan "app-flags.yaml":
      """
      plan: app-flags
      kind: hotfix
      steps:
        - name: stop exploded writes
          flag: {name: WRITE_EXPLODED, value: false, store: "file:flags.json"}
        - name: read unified
          flag: {name: READ_UNIFIED, value: true, store: "file:flags.json"}
      post_checks:
        - flag_is: {name: READ_UNIFIED, value: true, store: "file:flags.json"}
      """
    When I run "migrator apply app-flags.yaml"
    Then the exit code is 0
    And the file "flags.json" holds the flags "READ_UNIFIED=true, THEME="dark", WRITE_EXPLODED=false"
    And the query "select count(*) from migrator.flags" returns "0"
    When I run "migrator rollback app-flags.yaml"
    Then the exit code is 0
    And the file "flags.json" holds the flags it held before

  Scenario: A policy that already exists is replaced, and the rollback restores it exactly as it was
    Given a Supabase-like database where profiles has row level security and no policy
    And the SQL:
      """
      create policy "backend writes" on public.profiles as restrictive for update
        to authenticated, service_role
        using (session_id > 0 and results_version like 'v1.%')
        with check (results_version ~ '^v[0-9]+\.[0-9]+' and auth.role() = 'service_role');
      """
    And the plan "backend-writes.yaml":
      """
      plan: backend-writes
      kind: hotfix
      steps:
        - name: let the backend write every row
          policy:
            table: profiles
            name: backend writes
            command: all
            to: service_role
            using: "true"
            with_check: auth.role() = 'service_role'
      """
    And I note how the policies on "profiles" read
    When I run "migrator apply backend-writes.yaml"
    Then the exit code is 0
    And the query "select cmd || ' ' || permissive || ' ' || array_to_string(roles, ',') || ' ' || qual from pg_policies where policyname = 'backend writes'" returns "ALL PERMISSIVE service_role true"
    When I run "migrator rollback backend-writes.yaml"
    Then the exit code is 0
    And the policies on "profiles" read exactly as noted

  Scenario: A command runs without a shell, and its output is kept in the audit trail
    Given the plan "announce.yaml":
      """
      plan: announce
      kind: hotfix
      steps:
        - name: tell the channel
          command: [echo, "scores; echo injected", "$HOME", "*.yaml"]
      """
    When I run "migrator apply announce.yaml"
    Then the exit code is 0
    When I run "migrator history announce.yaml --output json"
    Then the audit trail keeps the output of "tell the channel" as "scores; echo injected $HOME *.yaml"

  Scenario: A command that exits non-zero fails its step, and the run is undone
    Given the plan "export.yaml":
      """
      plan: export
      kind: hotfix
      steps:
        - name: make room for the export
          sql: create table exported (session_id int)
          rollback: {sql: drop table exported}
        - name: copy the export
          command: [ls, /no/such/export]
      """
    When I run "migrator apply export.yaml"
    Then the exit code is 1
    And the output contains "copy the export (command): failed — ls exited with 2"
    And the output contains "/no/such/export"
    And the query "select detail->'memo'->>'exit_code' from migrator.events where kind = 'step' and status = 'failed'" returns "2"
    And the audit trail of plan "export" shows the undo of "make room for the export"
    And the query "select to_regclass('exported') is null" returns "True"

  Scenario: A session-level SET ends with its step, and validate warns about it
    Given the SQL:
      """
      create schema other;
      create table widgets (id int);
      insert into widgets values (7);
      """
    And the plan "paths.yaml":
      """
      plan: paths
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: use other
              sql: set search_path to other
            - name: make widgets
              sql: create table widgets (id int)
              rollback: {sql: drop table widgets}
      """
    When I run "migrator validate paths.yaml"
    Then the exit code is 0
    And the output contains "paths.yaml:9:14: transitions[0].steps[0].sql: warning: `set search_path to other` changes nothing: no statement runs after it in this step, and the next step starts from a clean session"
    And the output contains "[session-set]"
    When I run "migrator apply paths.yaml --to after"
    Then the exit code is 1
    And the output contains "make widgets (sql): failed"
    And the output contains "already exists"
    And the query "select to_regclass('other.widgets') is null" returns "True"
    And the query "select string_agg(id::text, ',') from public.widgets" returns "7"
