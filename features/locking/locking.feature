Feature: One run at a time per plan
  A run holds the plan's lock for its whole life. A second operator is turned
  away at once, told who holds it, and nothing of their attempt is recorded.

  Scenario: A second operator is turned away with who holds the lock
    Given the plan "slow.yaml":
      """
      plan: slow
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: wait a little, sql: select pg_sleep(3)}
      """
    And "alice" is running "migrator apply slow.yaml --to after" in another terminal
    When I run "migrator apply slow.yaml --to after --operator bob"
    Then the exit code is 4
    And the output contains "plan slow is locked: held by run 1 of alice on"
    And the runs of plan "slow" are "go applying"
    And alice's run ends with exit code 0
