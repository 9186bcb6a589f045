Feature: Moving a plan between phases
  `migrator apply PLAN --to PHASE` finds the shortest path of transitions from
  the phase the plan is in, and runs each transition as its own recorded run.

  Background:
    Given the plan "chain.yaml":
      """
      plan: chain
      phases: [legacy, dual_write, unified_only]
      transitions:
        - name: start_dual_write
          from: legacy
          to: dual_write
          steps: [{sql: create table dual_t (x int)}]
        - name: cutover
          from: dual_write
          to: unified_only
          steps: [{sql: create table unified_t (x int)}]
        - name: back_to_dual_write
          from: unified_only
          to: dual_write
          steps: [{sql: drop table unified_t}]
      """

  Scenario: Two transitions on the way are two runs
    When I run "migrator apply chain.yaml --to unified_only"
    Then the exit code is 0
    And the plan "chain" is in phase "unified_only"
    And the runs of plan "chain" are "start_dual_write succeeded, cutover succeeded"

  Scenario: Already in the phase asked for
    Given I ran "migrator apply chain.yaml --to dual_write"
    When I run "migrator apply chain.yaml --to dual_write"
    Then the exit code is 0
    And the output contains "already in phase 'dual_write': nothing to do"
    And the runs of plan "chain" are "start_dual_write succeeded"

  Scenario: No way there
    When I run "migrator apply chain.yaml --to nowhere"
    Then the exit code is 2
    And the output contains "phase 'nowhere' is not a phase of plan chain"

  Scenario: Rollback takes the last transition back, once
    Given I ran "migrator apply chain.yaml --to unified_only"
    When I run "migrator rollback chain.yaml"
    Then the exit code is 0
    And the plan "chain" is in phase "dual_write"
    When I run "migrator rollback chain.yaml"
    Then the output contains "nothing to roll back"

  Scenario: A phased plan needs to be told where to go
    When I run "migrator apply chain.yaml"
    Then the exit code is 2
    And the output contains "--to PHASE is required for a phased plan (legacy, dual_write, unified_only)"
    And the database has no schema "migrator"
