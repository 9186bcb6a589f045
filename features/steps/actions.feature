Feature: What steps do, and how each is taken back
  Besides SQL, a step can set a flag, switch row level security, or ask a person
  to do something. Each kind knows its own way back. A step that changes the
  schema waits a bounded time for its lock, names who held it, and tries again.

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
