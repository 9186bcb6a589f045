Feature: squawk's rules, in the plan's own lines
  A reviewer who installed migrator[lint] sees squawk's findings where the statement is
  in the plan file, with squawk's rule ids, and can silence one for a step with a reason.
  A squawk that is absent or broken never stops validate: migrator's own rules still run.
  With --dsn, the rules that need the target read it, and nothing else.

  Background:
    Given the plan "serial.yaml":
      """
      plan: serial
      phases: [before, after]
      vars: {owner: ops}
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: add a counter
              sql: |
                update widgets set owner = :owner where owner is null;
                alter table widgets add column n serial;
          post_checks:
            - {query: select count(*) from widgets, expect: ">= 0"}
      """

  Scenario: squawk's finding points at the statement inside the YAML
    When I run "migrator validate serial.yaml"
    Then the exit code is 0
    And the output contains "serial.yaml:12:44: transitions[0].steps[0].sql: warning: squawk: Serial types make schema, dependency, and permission management difficult; safe way: Use an `IDENTITY` column instead. [prefer-identity]"

  Scenario: A step silences one of squawk's rules, saying why
    Given the plan "quiet.yaml":
      """
      plan: quiet
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: add a counter
              sql: alter table widgets add column n serial
              ignore: {prefer-identity: "the app's ORM reads the sequence by name"}
          post_checks:
            - {query: select count(*) from widgets, expect: ">= 0"}
      """
    When I run "migrator validate quiet.yaml"
    Then the exit code is 0
    And the output does not contain "[prefer-identity]"
    And the output contains "[prefer-bigint-over-int]"

  Scenario: Without squawk, migrator's own rules run and nothing complains
    When I run "migrator validate --no-squawk serial.yaml"
    Then the exit code is 0
    And the output does not contain "squawk"
    And the output contains "serial.yaml (plan serial): valid"

  Scenario: A squawk asked for and not there is one warning
    Given the environment variable "MIGRATOR_SQUAWK" is "/nowhere/squawk"
    When I run "migrator validate serial.yaml"
    Then the exit code is 0
    And the output contains "serial.yaml:1:1: warning: MIGRATOR_SQUAWK=/nowhere/squawk: no such program; squawk's rules were not run"

  Scenario: With --dsn, a backfill key without a unique index is found on the target
    Given the SQL:
      """
      create table events (id bigint, kind text, kind_id int);
      create index events_id on events (id);
      """
    And the plan "fill.yaml":
      """
      plan: fill
      phases: [empty, full]
      transitions:
        - name: fill
          from: empty
          to: full
          steps:
            - name: copy
              backfill:
                table: events
                key: id
                statement: update events set kind_id = kind::int where id > :lo and id <= :hi
              rollback: {sql: "update events set kind_id = null where id > 0"}
          post_checks:
            - {query: select count(*) from events where kind_id is null, expect: 0}
      """
    When I run "migrator validate fill.yaml" on the scenario's database
    Then the exit code is 0
    And the output contains "fill.yaml:11:16: transitions[0].steps[0].backfill.key: warning: no unique index or primary key on events (id)"
    And the output contains "[backfill-key-not-unique]"
    And the query "select count(*) from events" returns "0"
