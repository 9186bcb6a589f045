Feature: The phases of a plan as a diagram
  `migrator graph PLAN` draws the plan's phases and transitions as a Mermaid
  state diagram, each transition labelled with its risk and whether it needs
  approval. Given a database, the phase the plan is in there is highlighted.
  Without one, migrator does not start its embedded database just for a diagram.

  Background:
    Given the plan "scoring.yaml":
      """
      plan: scoring
      phases: [legacy, dual_write, unified_only]
      transitions:
        - name: start_dual_write
          from: legacy
          to: dual_write
          steps: [{flag: {name: WRITE_UNIFIED, value: true}}]
        - name: cutover
          from: dual_write
          to: unified_only
          risk: high
          approval: true
          steps: [{flag: {name: WRITE_EXPLODED, value: false}}]
        - name: back_to_dual_write
          from: unified_only
          to: dual_write
          steps: [{flag: {name: WRITE_EXPLODED, value: true}}]
      """

  @read_only
  Scenario: The diagram, with no database at all
    Given no database is configured
    When I run "migrator graph scoring.yaml"
    Then the exit code is 0
    And the output contains "stateDiagram-v2"
    And the output contains "legacy --> dual_write: start_dual_write (risk low)"
    And the output contains "dual_write --> unified_only: cutover (risk high, needs approval)"
    And the output contains "[*] --> legacy"
    And no phase is highlighted
    And no embedded database was started

  Scenario: The phase the plan is in is highlighted
    Given I ran "migrator apply scoring.yaml --to dual_write"
    When I run "migrator graph scoring.yaml"
    Then the exit code is 0
    And the phase "dual_write" is highlighted

  @read_only
  Scenario: A database that cannot be reached still gets the diagram, and a word about it
    When I run "migrator graph scoring.yaml --dsn postgresql://ops:hunter2@127.0.0.1:1/prod"
    Then the exit code is 0
    And the output contains "cannot reach the database at postgresql://ops:***@127.0.0.1:1/prod"
    And the output contains "the diagram shows no current phase"
    And the output contains "[*] --> legacy"
    And the output does not contain "hunter2"
