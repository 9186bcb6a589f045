Feature: A database address is never echoed when it cannot be read
  A DSN that libpq (or migrator) cannot parse may hold a password anywhere in it: where
  it ends cannot be told. migrator never shows such a DSN, not even in part: it names
  where the DSN came from and why it cannot be read, with what libpq quotes of it left
  out. A password given with `--dsn` is visible to every user of the machine (`ps`,
  shell history): migrator warns, and says what to use instead.

  Background:
    Given the plan "notify.yaml":
      """
      plan: notify
      kind: hotfix
      steps:
        - sql: select 1
      """

  @read_only
  Scenario Outline: A DSN that cannot be parsed is named by where it came from, never shown
    When I run "migrator status notify.yaml --dsn '<dsn>'"
    Then the exit code is 5
    And the output contains "cannot reach the database at the DSN given by --dsn (unparseable): not a valid DSN"
    And the output does not contain "<piece>"
    And the output does not contain "db.internal"

    Examples:
      | dsn                                            | piece    |
      | postgresql://ops:p@ss#Word@db.internal/prod    | ss#Word  |
      | password=Hunter2 Secret host=db.internal       | Secret   |
      | postgresql://db.internal/db?password=Hunter2 S | Hunter2  |
      | postgresql://ops:Hunter2 Secret@db.internal/db | Hunter2  |
      | postgresql://ops:pw%zzHunter2@db.internal/db   | Hunter2  |

  @read_only
  Scenario: A password on the command line is used, with a warning
    When I run "migrator status notify.yaml --dsn postgresql://ops:hunter2@127.0.0.1:1/prod"
    Then the exit code is 5
    And the output contains "warning: --dsn carries a password"
    And the output contains "prefer MIGRATOR_DSN or a pgpass file"
    And the output does not contain "hunter2"
