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
    And the output contains "not approved: no terminal to ask on; pass --yes to approve"
    And the query "select to_regclass('cut_t') is null" returns "True"

  Scenario: At a terminal the question names the transition and its plan
    When I run "migrator apply gate.yaml --to after --operator dana" at a terminal and answer "n"
    Then the exit code is 1
    And the output contains "Run transition cutover of plan gate (before -> after, risk high)? [y/N]"
    And the output contains "not approved: declined at the terminal by dana"
    And the query "select to_regclass('cut_t') is null" returns "True"
    When I run "migrator apply gate.yaml --to after --operator dana" at a terminal and answer "y"
    Then the exit code is 0
    And the query "select detail->>'via' from migrator.events where kind = 'approval' and status = 'approved'" returns "terminal"

  Scenario: A hotfix is asked for as the hotfix
    Given the plan "hotfix.yaml":
      """
      plan: IR-07
      kind: hotfix
      approval: true
      steps:
        - {sql: create table fix_t (x int), rollback: {sql: drop table fix_t}}
      """
    When I run "migrator apply hotfix.yaml" at a terminal and answer "y"
    Then the exit code is 0
    And the output contains "Apply the hotfix IR-07 (pending -> applied, risk low)? [y/N]"
    When I run "migrator rollback hotfix.yaml" at a terminal and answer "y"
    Then the exit code is 0
    And the output contains "Undo the hotfix IR-07 (applied -> pending, risk low)? [y/N]"

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
