Feature: A flag set from a secret stays masked
  A flag whose value comes from `${env:NAME}` holds the secret itself: the application
  reads it. migrator remembers that it came from a secret (table `migrator.secret_flags`),
  so whoever reads it back later, a run without the variable included, shows `***`: a
  `flag_is` check's actual value, the audit trail, history, a report. What the undo of a
  step that replaced such a value puts back is kept in `migrator.kept_flag_values`, never
  in the audit trail, and a rollback restores it exactly.

  Background:
    Given the environment variable "PAYMENTS_TOKEN" is "pk-live-4b1d9e2f77"
    And the plan "token.yaml":
      """
      plan: token
      phases: [none, stored, rotated]
      transitions:
        - name: store
          from: none
          to: stored
          steps:
            - flag: {name: payments_token, value: "${env:PAYMENTS_TOKEN}"}
        - name: rotate
          from: stored
          to: rotated
          steps:
            - flag: {name: payments_token, value: rotated-by-hand}
      """
    And I ran "migrator apply token.yaml --to stored" and it exited 0
    And the environment variable "PAYMENTS_TOKEN" is unset

  Scenario: A later check shows the flag masked, without the variable
    Given the plan "peek.yaml":
      """
      plan: peek
      kind: hotfix
      pre_checks:
        - name: the token is the test one
          flag_is: {name: payments_token, value: pk-test}
      steps:
        - sql: select 1
      """
    When I run "migrator apply peek.yaml"
    Then the exit code is 1
    And the output contains "actual ***"
    And the output does not contain "pk-live"
    And the audit trail of plan "peek" does not contain "pk-live"
    When I run "migrator report 2 --output json"
    Then the output does not contain "pk-live"

  Scenario: A rollback restores the secret exactly, and the audit trail never held it
    When I run "migrator apply token.yaml --to rotated"
    Then the exit code is 0
    When I run "migrator rollback token.yaml"
    Then the exit code is 0
    And the query "select value #>> '{}' from migrator.flags where name = 'payments_token'" returns "pk-live-4b1d9e2f77"
    And the audit trail of plan "token" does not contain "pk-live"
    When I run "migrator history token.yaml --output json"
    Then the output does not contain "pk-live"
    When I run "migrator report 2"
    Then the output does not contain "pk-live"
