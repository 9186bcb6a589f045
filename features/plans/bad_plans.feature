Feature: A bad plan is stopped before it touches anything
  A release engineer who makes a mistake in a plan learns exactly where it is:
  the file, the line, the column and the field, every problem at once, and
  nothing happens to the database.

  Scenario: A misspelled action key names the keys that exist
    Given the plan "typo.yaml":
      """
      plan: typo
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - sqll: select 1
      """
    When I run "migrator validate typo.yaml"
    Then the exit code is 2
    And the output contains "typo.yaml:8:9: transitions[0].steps[0].sqll: unknown action key 'sqll' (did you mean 'sql'?)"

  Scenario: Every problem is reported in one go
    Given the plan "many.yaml":
      """
      plan: many
      phases: [before, after, later]
      transitions:
        - name: go
          from: before
          to: after
          risk: extreme
      """
    When I run "migrator validate many.yaml"
    Then the exit code is 2
    And the output contains "many.yaml:2:25: phases[2]: phase 'later' cannot be reached"
    And the output contains "many.yaml:7:11: transitions[0].risk: must be 'low', 'medium' or 'high'"

  Scenario: A duplicate key is an error, not a silent overwrite
    Given the plan "dup.yaml":
      """
      plan: dup
      phases: [before, after]
      phases: [a, b]
      transitions: [{name: go, from: a, to: b}]
      """
    When I run "migrator validate dup.yaml"
    Then the exit code is 2
    And the output contains "dup.yaml:3:1: phases: duplicate key 'phases' (first given at line 2)"

  Scenario: Applying an invalid plan changes nothing
    Given the plan "broken.yaml":
      """
      plan: broken
      phases: [before]
      transitions: []
      """
    When I run "migrator apply broken.yaml --to before"
    Then the exit code is 2
    And the database has no schema "migrator"

  Scenario: Warnings do not stop a plan
    Given the plan "quiet.yaml":
      """
      plan: quiet
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - sql: select 1
      """
    When I run "migrator validate quiet.yaml"
    Then the exit code is 0
    And the output contains "warning: transition 'go' has no post-checks"
