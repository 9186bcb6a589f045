Feature: A failing target does not take the fleet down with it
  Each wave allows `max_failures` targets ending with exit 1, 2, 3 or 6; one more stops the
  rollout: the targets under way finish, none starts after, and those never started are
  left untouched (`not_started` in the ledger). A target that cannot be reached (exit 5)
  or whose plan lock is held (exit 4) is tried again with a growing wait (`retry`), then
  reported; the others go on.

  Background:
    Given the databases "one, two, three" of a fleet
    And the plan "tenants.yaml":
      """
      plan: tenants
      phases: [legacy, dual_write]
      transitions:
        - name: add_shadow
          from: legacy
          to: dual_write
          steps:
            - {name: shadow table, sql: create table shadow (id int), rollback: {sql: drop table shadow}}
            - name: no poison here
              sql: select 1 / (1 - (select count(*) from pg_class where relname = 'poison'))::int
      """

  Scenario: max_failures 0 stops the rollout at the first failure
    Given the fleet file "fleet.yaml":
      """
      fleet: tenants
      targets:
        - {name: one, dsn: "${env:FLEET_DSN_ONE}"}
        - {name: two, dsn: "${env:FLEET_DSN_TWO}"}
        - {name: three, dsn: "${env:FLEET_DSN_THREE}"}
      waves:
        - {name: all, parallel: 1, max_failures: 0}
      """
    And the SQL "create table poison ()" ran on target "two"
    When I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write"
    Then the exit code is 1
    And the output contains "✗ two: exit 1 — "
    And the output contains "rollout stopped: wave all: 1 target(s) failed, more than its max_failures (0)"
    And the ledger says target "one" is "moved"
    And the ledger says target "two" is "failed"
    And the ledger says target "three" is "not_started"
    And target "three" has no schema migrator

  Scenario: An unreachable target is tried again, then reported
    Given the fleet file "fleet.yaml":
      """
      fleet: tenants
      targets:
        - {name: one, dsn: "${env:FLEET_DSN_ONE}"}
        - {name: two, dsn: "${env:FLEET_DSN_TWO}"}
        - {name: three, dsn: "${env:FLEET_DSN_THREE}"}
      waves:
        - {name: all, parallel: 3}
      retry: {attempts: 2, backoff: 0.05s}
      """
    And target "two" points at a database that does not exist
    When I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write --output json"
    Then the exit code is 5
    And the output contains "↻ two: exit 5, trying again in 50 ms (attempt 2 of 3)"
    And the output contains "✗ two: exit 5 (after 3 attempts)"
    And the ledger says target "two" is "unreachable" after 3 attempts
    And the ledger says target "one" is "moved"
    And the ledger says target "three" is "moved"
    And the output is a JSON document whose "targets.1.state" is "unreachable"

  Scenario: A target another operator moved is found there, never claimed by the rollout
    A target counts as moved by the rollout only when the run that brought it to the
    phase was made by one of the rollout's own `migrator apply` processes (their pids are
    in the ledger before they can make a run): `fleet rollback` never takes back another
    operator's work, even when the fleet waited on that operator's lock and found the
    target moved when it tried again.
    Given the fleet file "fleet.yaml":
      """
      fleet: tenants
      targets:
        - {name: one, dsn: "${env:FLEET_DSN_ONE}"}
        - {name: two, dsn: "${env:FLEET_DSN_TWO}"}
      """
    And "migrator apply tenants.yaml --to dual_write --operator alice" ran on target "one"
    When I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write --operator bob"
    Then the exit code is 0
    And the output contains "= one: already in dual_write"
    And the ledger says target "one" is "in_phase" with no run of its own
    And the ledger says target "two" is "moved"
