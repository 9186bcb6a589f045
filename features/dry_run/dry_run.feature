Feature: A dry run shows everything and changes nothing
  `migrator plan PLAN --to PHASE` shows the path, each check, step and undo with
  its exact SQL, and evaluates the pre-checks read-only against today's data.

  Scenario: The SQL, the undo, and today's pre-check verdicts
    Given the SQL:
      """
      create table sessions (id int, status text);
      insert into sessions values (1, 'completed'), (2, 'completed');
      """
    And the plan "cut.yaml":
      """
      plan: cut
      vars: {status: completed}
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: completed sessions exist
              query: select count(*) from sessions where status = :status
              expect: "> 0"
            - name: nothing is in flight
              query: select count(*) from sessions where status = 'running'
              expect: 0
            - name: every session was scored
              query: select count(*) from sessions where status = :status
              expect: 0
          steps:
            - name: mark them
              sql: update sessions set status = 'archived' where status = :status
              rollback: {sql: "update sessions set status = 'completed' where status = 'archived'"}
      """
    When I run "migrator plan cut.yaml --to after"
    Then the exit code is 0
    And the output contains "update sessions set status = 'archived' where status = :status"
    And the output contains "undo: update sessions set status = 'completed' where status = 'archived'"
    And the output contains "pre-check completed sessions exist: passes today"
    And the output contains "pre-check every session was scored: FAILS today: actual 2, expected 0"
    And the query "select count(*) from sessions where status = 'completed'" returns "2"
    And the database has no schema "migrator"
