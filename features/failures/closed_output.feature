Feature: A closed output is no failure
  `migrator apply plan.yaml --to b | head -1` reads the first line and closes the pipe;
  so does `migrator history plan.yaml | head` and `migrator status --watch | head -1`.
  Exit 1 means "a check failed and the run was undone": a closed stdout must never turn
  into it. A run goes on to its end, its output dropped, and exits with its own code; a
  reading command stops there, exit 0, without a word.

  Background:
    Given the SQL:
      """
      create table ran (step text);
      """
    And the plan "pipe.yaml":
      """
      plan: pipe
      phases: [a, b]
      transitions:
        - name: go
          from: a
          to: b
          steps:
            - name: one
              sql: insert into ran values ('one')
              rollback: {sql: delete from ran}
            - name: two
              sql: insert into ran values ('two')
          post_checks:
            - {query: select count(*) from ran, expect: 2}
      """

  Scenario: A run whose output is closed goes on to its end and is not undone
    When I run "migrator apply pipe.yaml --to b --yes" with its output closed
    Then the exit code is 0
    And nothing was written on stderr
    And the plan "pipe" is in phase "b"
    And the query "select count(*) from ran" returns "2"

  Scenario: A reading command whose output is closed stops quietly
    Given I ran "migrator apply pipe.yaml --to b --yes" and it exited 0
    When I run "migrator history pipe.yaml" with its output closed
    Then the exit code is 0
    And nothing was written on stderr
    When I run "migrator status pipe.yaml --watch" with its output closed
    Then the exit code is 0
    And nothing was written on stderr
