Feature: A plan across a fleet of databases, canary first, in waves
  `migrator fleet apply FLEET PLAN --to PHASE` moves every target of the fleet file as
  `migrator apply` would (its own lock, its own audit trail in its own database), wave by
  wave: a wave ends when all its targets have, and only then does the next one start.
  The fleet's ledger (a JSON file beside the fleet file) records which targets the
  rollout moved. Running it again resumes: a target already in the phase is skipped.
  A wave with `approval: true` is asked at a terminal, and needs --yes without one. The
  plan's own approval gates: --yes approves them on every target; at a terminal the
  operator is asked once for the whole rollout; without one each target's apply declines,
  so the canary stops the rollout.

  Background:
    Given the databases "internal, acme, beta" of a fleet
    And the fleet file "fleet.yaml":
      """
      fleet: tenants
      targets:
        - {name: internal, dsn: "${env:FLEET_DSN_INTERNAL}", group: canary}
        - {name: acme, dsn: "${env:FLEET_DSN_ACME}"}
        - {name: beta, dsn: "${env:FLEET_DSN_BETA}"}
      waves:
        - {name: canary, match: {group: canary}}
        - {name: rest, parallel: 2, max_failures: 0}
      """
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

  Scenario: The canary wave ends before the rest starts
    When I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write"
    Then the exit code is 0
    And the output contains "✓ internal: legacy -> dual_write (run 1"
    And the output contains "wave canary ended: 1 moved"
    And the output contains "3 moved, 0 already in the phase, 0 failed, 0 not started"
    And target "acme" is in phase "dual_write" of plan "tenants"
    And the run on target "acme" started after the run on target "internal" finished
    And the run on target "beta" started after the run on target "internal" finished
    And the ledger says target "beta" is "moved"

  Scenario: Running it again resumes a stopped rollout
    Given the SQL "create table poison ()" ran on target "acme"
    And I ran "migrator fleet apply fleet.yaml tenants.yaml --to dual_write" and it exited 1
    When the SQL "drop table poison" runs on target "acme"
    And I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write"
    Then the exit code is 0
    And the output contains "= internal: already in dual_write (moved by this rollout before)"
    And the output contains "✓ acme: legacy -> dual_write"
    And target "internal" has 1 run of plan "tenants"
    And the ledger says target "acme" is "moved"
    And the ledger says target "beta" is "moved"
    And the ledger has 1 rollout

  Scenario: A wave that needs approval does not start without a terminal or --yes
    Given the fleet file "fleet.yaml":
      """
      fleet: tenants
      targets:
        - {name: internal, dsn: "${env:FLEET_DSN_INTERNAL}", group: canary}
        - {name: acme, dsn: "${env:FLEET_DSN_ACME}"}
        - {name: beta, dsn: "${env:FLEET_DSN_BETA}"}
      waves:
        - {name: canary, match: {group: canary}}
        - {name: rest, parallel: 2, approval: true}
      """
    When I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write"
    Then the exit code is 1
    And the output contains "wave rest needs approval: not approved, no terminal to ask on; pass --yes"
    And the ledger says target "internal" is "moved"
    And the ledger says target "acme" is "not_started"
    And target "acme" has no schema migrator
    When I run "migrator fleet apply fleet.yaml tenants.yaml --to dual_write --yes"
    Then the exit code is 0
    And the ledger says target "acme" is "moved"
