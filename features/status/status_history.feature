Feature: Where a plan is, and everything that happened to it
  `migrator status PLAN` tells the phase the plan is in, who holds its lock, any
  run that is in progress or was interrupted, and the last runs. `migrator
  history PLAN` is the audit trail: every run and every event of each run, with
  each check's actual value beside the expected one. Both only read.

  Background:
    Given the plan "flags.yaml":
      """
      plan: flags
      phases: [dark, live]
      transitions:
        - name: turn_on
          from: dark
          to: live
          steps:
            - {name: feature on, flag: {name: FEATURE, value: true}}
          post_checks:
            - {name: feature reads back on, flag_is: {name: FEATURE, value: true}}
        - name: turn_off
          from: live
          to: dark
          steps:
            - {name: feature off, flag: {name: FEATURE, value: false}}
      """

  @read_only
  Scenario: A plan that never ran is in its first phase, and nothing is written
    When I run "migrator status flags.yaml"
    Then the exit code is 0
    And the output contains "phase: dark   (phases: dark -> live)"
    And the output contains "lock: free"
    And the output contains "no runs yet"
    And the database has no schema "migrator"

  Scenario: Status after a few runs
    Given I ran "migrator apply flags.yaml --to live --operator alice"
    And I ran "migrator rollback flags.yaml --operator bob"
    When I run "migrator status flags.yaml"
    Then the output contains "phase: dark"
    And the output contains "turn_off"
    And the output contains "succeeded bob"
    And the output contains "succeeded alice"
    When I run "migrator status flags.yaml --output json"
    Then the output is a JSON document whose "phase" is "dark"
    And the output is a JSON document whose "runs.0.operator" is "bob"

  Scenario: History is every event, with actual and expected values
    Given I ran "migrator apply flags.yaml --to live --operator alice"
    When I run "migrator history flags.yaml"
    Then the exit code is 0
    And the output contains "run 1: turn_on (dark -> live) succeeded — alice@"
    And the output contains "step done"
    And the output contains "feature on"
    And the output contains "check passed"
    And the output contains "actual true, expected true"
    When I run "migrator history flags.yaml --output json"
    Then the output is a JSON document whose "runs.0.events.0.kind" is "state"

  Scenario: A flag set to true is stored as the JSON value true
    When I run "migrator apply flags.yaml --to live"
    Then the exit code is 0
    And the query "select value::text from migrator.flags where name = 'FEATURE'" returns "true"
    And the query "select jsonb_typeof(value) from migrator.flags where name = 'FEATURE'" returns "boolean"
