Feature: Lint shows the danger of a plan before production does
  A release engineer runs `migrator validate` and sees, at the line and column of the
  statement inside the YAML, what would fail or hurt at `apply`: with a stable rule id,
  the reason and the safe way. Nothing touches a database.

  Scenario: A bind variable with a typo is found at the parameter itself
    Given the plan "typo.yaml":
      """
      plan: typo
      vars:
        owner: ops
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: seed
              sql: |
                insert into widgets (id, owner)
                values (1, :ownr);
              rollback:
                - sql: delete from widgets where id = 1
      """
    When I run "migrator validate typo.yaml"
    Then the exit code is 0
    And the output contains "typo.yaml:13:22: transitions[0].steps[0].sql: warning: `:ownr` names no plan variable (did you mean `:owner`?): the step fails when it runs"
    And the output contains "safe way: declare it under `vars:` (or correct its name) [undefined-bind-variable]"

  Scenario: CONCURRENTLY in a transactional step is found, and the safe twin is clean
    Given the plan "index.yaml":
      """
      plan: index
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: in a transaction
              sql: create index concurrently widgets_owner on widgets (owner)
              rollback: irreversible
            - name: outside one
              autocommit: true
              sql: create index concurrently widgets_name on widgets (name)
              rollback: irreversible
      """
    When I run "migrator validate index.yaml"
    Then the exit code is 0
    And the output contains "index.yaml:9:14: transitions[0].steps[0].sql: warning: CREATE INDEX CONCURRENTLY cannot run inside a transaction: this step fails every time it runs; safe way: set `autocommit: true` on this step"
    And the output contains "[ban-concurrent-index-creation-in-transaction]"
    And the output does not contain "index.yaml:13:14"

  Scenario: Transaction control and whole-table writes inside a step are found
    Given the plan "nested.yaml":
      """
      plan: nested
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: fill
              sql: |
                update widgets set owner = 'ops';
                commit;
              rollback: irreversible
      """
    When I run "migrator validate nested.yaml"
    Then the exit code is 0
    And the output contains "nested.yaml:10:11: transitions[0].steps[0].sql: warning: UPDATE with no WHERE writes every row of widgets in one transaction"
    And the output contains "nested.yaml:11:11: transitions[0].steps[0].sql: warning: COMMIT in a step that runs in a transaction"
    And the output contains "[transaction-nesting]"

  Scenario: Row level security DDL without a lock_timeout is found
    Given the plan "rls.yaml":
      """
      plan: rls
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: protect
              sql: alter table public.profiles enable row level security
              rollback:
                - sql: alter table public.profiles disable row level security
                  lock_timeout: 1s
      """
    When I run "migrator validate rls.yaml"
    Then the exit code is 0
    And the output contains "rls.yaml:9:14: transitions[0].steps[0].sql: warning: ALTER TABLE ... ROW LEVEL SECURITY takes ACCESS EXCLUSIVE on public.profiles"
    And the output contains "give the step a short `lock_timeout` (e.g. 1s) and `retries`"
    And the output does not contain "rls.yaml:12"
