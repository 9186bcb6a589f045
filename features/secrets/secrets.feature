Feature: Secrets are never shown
  A password in the database address and a value read from the environment with
  `${env:NAME}` are used, never shown: not in what migrator prints, not in its
  JSON, not in the audit trail, not in a runbook or a report. Where one would
  appear, `***` stands in its place.

  Background:
    Given the environment variable "SERVICE_ROLE_KEY" is "sk-live-7f3a9c"
    And the plan "notify.yaml":
      """
      plan: notify
      kind: hotfix
      steps:
        - name: call the function
          command: [echo, "Authorization: Bearer ${env:SERVICE_ROLE_KEY}"]
      """

  Scenario: A value from the environment is masked in the output and the audit trail
    When I run "migrator apply notify.yaml"
    Then the exit code is 0
    And the output does not contain "sk-live-7f3a9c"
    And the audit trail of plan "notify" contains "Authorization: Bearer ***"
    And the audit trail of plan "notify" does not contain "sk-live-7f3a9c"
    When I run "migrator history notify.yaml"
    Then the output does not contain "sk-live-7f3a9c"
    When I run "migrator report 1"
    Then the output contains "Authorization: Bearer ***"
    And the output does not contain "sk-live-7f3a9c"

  Scenario: A failure that quotes the secret is masked too
    Given the plan "reject.yaml":
      """
      plan: reject
      kind: hotfix
      steps:
        - name: call the function
          command: [sh, -c, 'echo "key $0 was rejected" >&2; exit 3', "${env:SERVICE_ROLE_KEY}"]
      """
    When I run "migrator apply reject.yaml"
    Then the exit code is 1
    And the output contains "key *** was rejected"
    And the output does not contain "sk-live-7f3a9c"
    And the audit trail of plan "reject" does not contain "sk-live-7f3a9c"

  @read_only
  Scenario: A runbook shows where a secret comes from, never its value
    When I run "migrator docs notify.yaml"
    Then the output contains "Authorization: Bearer ${env:SERVICE_ROLE_KEY}"
    And the output contains "**Read from the environment:** `SERVICE_ROLE_KEY` (values never shown)"
    And the output does not contain "sk-live-7f3a9c"

  @read_only
  Scenario: A database that cannot be reached is named without its password
    When I run "migrator status notify.yaml --dsn postgresql://ops:hunter2@127.0.0.1:1/prod"
    Then the exit code is 5
    And the output contains "cannot reach the database at postgresql://ops:***@127.0.0.1:1/prod"
    And the output does not contain "hunter2"

  Scenario: The database password never reaches the output, the JSON or the audit trail
    Given the database is reached with the password "pw-9d8e7f"
    When I run "migrator apply notify.yaml --output json --log-format json"
    Then the exit code is 0
    And the output does not contain "pw-9d8e7f"
    When I run "migrator status notify.yaml"
    Then the output does not contain "pw-9d8e7f"
    When I run "migrator report 1 --output json"
    Then the output does not contain "pw-9d8e7f"
    And the audit trail of plan "notify" does not contain "pw-9d8e7f"
