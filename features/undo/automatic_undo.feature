Feature: A failed transition undoes itself
  When a step or a post-check fails, every step the run completed is undone in
  reverse order, the audit trail shows each undo, and the plan stays in the
  phase it started in. If an undo fails, the run says so and the plan is
  blocked until someone settles it.

  Background:
    Given the SQL:
      """
      create table ran (step text);
      create table undone (step text);
      """
    And the plan "three.yaml":
      """
      plan: three
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')", rollback: {sql: "insert into undone values ('one')"}}
            - {name: two, sql: "insert into ran values ('two')", rollback: {sql: "insert into undone values ('two')"}}
            - {name: three, flag: {name: FEATURE, value: true}}
          post_checks:
            - {name: enough rows, query: select count(*) from ran, expect: 3}
      """

  Scenario: A failed post-check undoes three steps in reverse order
    When I run "migrator apply three.yaml --to after"
    Then the exit code is 1
    And the audit trail of plan "three" shows the undo of "three, two, one"
    And the query "select string_agg(step, ',') from undone" returns "two,one"
    And the query "select count(*) from migrator.flags" returns "0"
    And the plan "three" is in phase "before"

  Scenario: An undo that fails needs a person, and blocks the plan
    Given the plan "three.yaml" has the rollback of "one" replaced by "insert into missing_table values (1)"
    When I run "migrator apply three.yaml --to after"
    Then the exit code is 3
    And the output contains "manual intervention needed"
    When I run "migrator apply three.yaml --to after"
    Then the exit code is 3
    And the output contains "could not be undone"
    Given the SQL:
      """
      create table missing_table (x int);
      """
    When I run "migrator resume three.yaml --force"
    Then the exit code is 0
    And the runs of plan "three" are "go undone"
