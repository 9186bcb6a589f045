Feature: Approval gates
  A transition with `approval: true` runs only after a person confirms it at a
  terminal, or with `--yes`. Who approved it, and when, is recorded.

  Background:
    Given the plan "gate.yaml":
      """
      plan: gate
      phases: [before, after]
      transitions:
        - name: cutover
          from: before
          to: after
          risk: high
          approval: true
          steps: [{sql: create table cut_t (x int)}]
      """

  Scenario: Without a terminal and without --yes nothing is applied
    When I run "migrator apply gate.yaml --to after"
    Then the exit code is 1
    And the query "select to_regclass('cut_t') is null" returns "True"

  Scenario: --yes approves, and the audit trail says who
    When I run "migrator apply gate.yaml --to after --yes --operator carol"
    Then the exit code is 0
    And the query "select detail->>'operator' from migrator.events where kind = 'approval'" returns "carol"

  Scenario: The way back asks for approval as the way there did
    Given the plan "hotfix.yaml":
      """
      plan: gated-fix
      kind: hotfix
      approval: true
      steps:
        - {sql: create table fix_t (x int), rollback: {sql: drop table fix_t}}
      """
    And I ran "migrator apply hotfix.yaml --yes"
    When I run "migrator rollback hotfix.yaml"
    Then the exit code is 1
    And the output contains "approval was not given"
    And the plan "gated-fix" is in phase "applied"
    When I run "migrator rollback hotfix.yaml --yes --operator carol"
    Then the exit code is 0
    And the plan "gated-fix" is in phase "pending"
    And the query "select count(*) from migrator.events where kind = 'approval' and detail->>'operator' = 'carol'" returns "1"
