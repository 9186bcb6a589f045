Feature: The audit trail is tamper-evident
  Every event of a run is hash-chained: its hash covers what it holds (its step, kind,
  status, detail and time) and the hash of the event before it, and the run records
  how long its chain is and where it ends. `migrator history --verify` walks every
  run's chain and names each broken link. `resume` and `rollback` read a run's trail
  to decide what to do or undo: they verify it first and refuse, with exit 2 and
  nothing done, a trail that was edited.

  Background:
    Given the SQL:
      """
      create table ran (step text);
      create table undone (step text);
      """
    And the plan "three.yaml":
      """
      plan: three
      vars: {nap: 0}
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')", rollback: {sql: "insert into undone values ('one')"}}
            - {name: two, sql: "insert into ran values ('two')", rollback: {sql: "insert into undone values ('two')"}}
            - {name: three, sql: "insert into ran values ('three'); select pg_sleep(:nap)", rollback: {sql: "insert into undone values ('three')"}}
      """

  Scenario: An untouched trail verifies
    Given I ran "migrator apply three.yaml --to after"
    When I run "migrator history three.yaml --verify"
    Then the exit code is 0
    And the output contains "trail of run 1: intact"
    And the output contains "every trail shown is intact"

  Scenario: history --verify names the event that was edited
    Given I ran "migrator apply three.yaml --to after"
    And the SQL:
      """
      update migrator.events set detail = jsonb_set(detail, '{memo}', '"true); create table pwned (x int); --"')
      where step = 'two' and status = 'done';
      """
    When I run "migrator history three.yaml --verify"
    Then the exit code is 2
    And the output contains "trail of run 1: BROKEN, 1 broken link"
    And the output contains "event 6: its content was edited"
    And the output contains "the audit trail was edited"

  Scenario: A rollback refuses a trail that was edited, and undoes nothing
    Given I ran "migrator apply three.yaml --to after"
    And the SQL:
      """
      delete from migrator.events where step = 'two' and status = 'done';
      """
    When I run "migrator rollback three.yaml"
    Then the exit code is 2
    And the output contains "the audit trail of run 1 was edited: event 7: 1 event missing before it"
    And the output contains "Nothing was done"
    And the plan "three" is in phase "after"
    And the runs of plan "three" are "go succeeded"
    And the query "select count(*) from undone" returns "0"

  Scenario: A resume refuses an interrupted run whose trail was edited, and runs nothing
    Given "migrator apply three.yaml --to after --var nap=60" was killed during step "three"
    And the SQL:
      """
      update migrator.events set status = 'skipped' where step = 'one' and status = 'done';
      """
    When I run "migrator resume three.yaml"
    Then the exit code is 2
    And the output contains "the audit trail of run 1 was edited: event 4: its content was edited"
    And the query "select string_agg(step, ',' order by step) from ran" returns "one,two"
    And the query "select count(*) from migrator.runs" returns "1"
