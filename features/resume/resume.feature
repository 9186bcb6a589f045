Feature: An interrupted run is resumed or rolled back
  A run whose process was killed is found interrupted: its lock is free, and it
  never finished. `migrator resume` continues after the last step recorded done;
  `migrator rollback` undoes exactly what it completed.

  Background:
    Given the SQL:
      """
      create table ran (step text);
      create table undone (step text);
      """
    And the plan "four.yaml":
      """
      plan: four
      vars: {nap: 0}
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')", rollback: {sql: "insert into undone values ('one')"}}
            - {name: two, sql: "insert into ran values ('two')", rollback: {sql: "insert into undone values ('two')"}}
            - {name: three, sql: "insert into ran values ('three'); select pg_sleep(:nap)"}
            - {name: four, sql: "insert into ran values ('four')"}
      """
    And "migrator apply four.yaml --to after --var nap=60" was killed during step "three"

  Scenario: Status says the run was interrupted
    When I run "migrator status four.yaml"
    Then the output contains "is interrupted"
    And the output contains "lock: free"

  Scenario: Resume finishes the run, each step once
    When I run "migrator resume four.yaml"
    Then the exit code is 0
    And the query "select string_agg(step, ',' order by step) from ran" returns "four,one,three,two"
    And the plan "four" is in phase "after"

  Scenario: Rollback undoes only what was done
    When I run "migrator rollback four.yaml"
    Then the exit code is 0
    And the query "select string_agg(step, ',') from undone" returns "two,one"

  Scenario: A step done by hand is skipped on resume, and the reason is recorded
    When I run "migrator resume four.yaml --skip three --reason "done by hand in psql" --operator erin"
    Then the exit code is 0
    And the query "select string_agg(step, ',' order by step) from ran" returns "four,one,two"
    And the query "select detail->>'reason' || ' by ' || (detail->>'operator') from migrator.events where status = 'skipped'" returns "done by hand in psql by erin"

  Scenario: A plan changed since its run stopped is refused until the operator insists
    Given the plan file "four.yaml" was edited since
    When I run "migrator resume four.yaml"
    Then the exit code is 2
    And the output contains "four.yaml changed since run 1 started (checksum differs)"
    When I run "migrator resume four.yaml --force"
    Then the exit code is 0
    And the plan "four" is in phase "after"
