Feature: No database server to install: an embedded PostgreSQL
  With no --dsn, no MIGRATOR_DSN and no DATABASE_URL, migrator starts a real
  PostgreSQL (from the pgserver package) in .migrator/pgdata under the current
  folder, says so once, and uses the same one from then on.

  Scenario: The first command starts it, the next ones reuse it
    Given an empty folder with the plan "local.yaml":
      """
      plan: local
      kind: hotfix
      steps:
        - flag: {name: LOCAL, value: true}
      """
    When I run "migrator apply local.yaml" there with no database configured
    Then the exit code is 0
    And the output contains "started the embedded PostgreSQL in .migrator/pgdata"
    And the folder has a PostgreSQL data directory in ".migrator/pgdata"
    When I run "migrator status local.yaml --output json" there with no database configured
    Then the exit code is 0
    And the output does not contain "started the embedded"
    And the output contains ""phase": "applied""
