Feature: The options every command shares
  `--var NAME=VALUE` overrides a plan variable, which reaches SQL as a bound
  parameter and never as text pasted into it. `--dsn` names the database, else
  `MIGRATOR_DSN`, else `DATABASE_URL`. `--output json` gives scripts one document
  on stdout. `--operator` names who runs it in the audit trail; by default the
  user running migrator.

  Background:
    Given the plan "widgets.yaml":
      """
      plan: widgets
      vars: {owner: ops}
      phases: [before, after]
      transitions:
        - name: add_widgets
          from: before
          to: after
          steps:
            - name: create the table
              sql: create table widgets (id int primary key, owner text)
              rollback: {sql: drop table widgets}
            - name: seed it
              sql: insert into widgets values (1, :owner)
              rollback: {sql: delete from widgets}
          post_checks:
            - {name: seeded, query: select count(*) from widgets, expect: 1}
      """

  Scenario: A variable given on the command line is bound, never pasted into the SQL
    When I run "migrator apply widgets.yaml --to after --var "owner=O'Brien'); drop table widgets; --""
    Then the exit code is 0
    And the query "select owner from widgets" returns "O'Brien'); drop table widgets; --"

  Scenario: A variable the plan does not have is bad usage
    When I run "migrator apply widgets.yaml --to after --var colour=red"
    Then the exit code is 2
    And the output contains "--var colour: plan widgets has no variable colour (known: owner)"
    And the database has no schema "migrator"

  Scenario Outline: <variable> names the database when --dsn is not given
    Given <variable> names the scenario's database
    When I run "migrator apply widgets.yaml --to after"
    Then the exit code is 0
    And the plan "widgets" is in phase "after"

    Examples:
      | variable     |
      | MIGRATOR_DSN |
      | DATABASE_URL |

  Scenario: One JSON document for scripts
    When I run "migrator apply widgets.yaml --to after --output json"
    Then the exit code is 0
    And the output is a JSON document whose "result" is "ok"
    And the output is a JSON document whose "phase" is "after"
    And the output is a JSON document whose "exit_code" is "0"

  Scenario: The audit trail names who ran it
    When I run "migrator apply widgets.yaml --to after"
    Then the runs of plan "widgets" were made by the user running migrator
    Given I ran "migrator rollback widgets.yaml --operator erin"
    Then the query "select operator from migrator.runs order by id desc limit 1" returns "erin"

  Scenario: --log-format json writes one JSON line per event on stderr, for log collectors
    When I run "migrator apply widgets.yaml --to after --log-format json"
    Then the exit code is 0
    And the output contains "seed it (sql): done"
    And stderr has one JSON line for each event of the audit trail, in order
    And each JSON line on stderr names run 1 of plan "widgets"
    And a JSON line on stderr says that step "seed it" is done
