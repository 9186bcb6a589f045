Feature: A step waits for its lock at most its lock_timeout, and says who made it wait
  While a migration waits for a lock, the application's writes to that table queue
  behind it. So every statement of a step or an undo, in a transaction or not
  (`autocommit: true`, CREATE INDEX CONCURRENTLY), waits at most the step's
  `lock_timeout` (5s unless the step says otherwise), then gives up, lets the
  application through, and tries again after a pause. Each retry, and the failure at
  the end, names the sessions that held the lock: on the terminal and in the audit trail.

  Background:
    Given the SQL:
      """
      create table busy (id int);
      create table ran (step text);
      """
    And the plan "ddl.yaml":
      """
      plan: ddl
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: mark
              sql: insert into ran values ('mark')
              rollback: {sql: "delete from ran where step = 'mark'"}
            - name: add a note
              sql: alter table busy add column note text
              autocommit: true
              lock_timeout: 200ms
              timeout: 20s
      """

  Scenario: An autocommit step behind a blocker names it and is retried, then undone
    Given a reporting session read table busy and stays in its transaction
    When I run "migrator apply ddl.yaml --to after"
    Then the exit code is 1
    And the output names the reporting session on 3 retries of "add a note"
    And the output contains "canceling statement due to lock timeout — blocked by pid"
    And the audit trail names the reporting session in every retry and in the failure of "add a note"
    And the audit trail of plan "ddl" shows the undo of "mark"
    And the query "select count(*) from information_schema.columns where table_name = 'busy'" returns "1"

  Scenario: An autocommit step is retried until the blocker leaves
    Given a reporting session read table busy and stays in its transaction
    And the reporting session ends once "add a note" has been retried
    When I run "migrator apply ddl.yaml --to after"
    Then the exit code is 0
    And the output names the reporting session on 1 retry of "add a note"
    And the query "select count(*) from information_schema.columns where table_name = 'busy'" returns "2"

  Scenario: An undo behind a blocker is retried naming it, then the run needs a person
    Given the SQL:
      """
      create table go_on (ok boolean);
      """
    And the plan "undo.yaml":
      """
      plan: undo
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: add a note
              sql: alter table busy add column note text
              lock_timeout: 200ms
              timeout: 20s
              rollback: {sql: alter table busy drop column note}
            - name: fail when told
              sql: |
                do $$ begin
                  while not exists (select 1 from go_on) loop perform pg_sleep(0.02); end loop;
                  raise exception 'told to fail';
                end $$
      """
    And a reporting session reads table busy once "fail when told" has started, then tells it to fail
    When I run "migrator apply undo.yaml --to after"
    Then the exit code is 3
    And the output names the reporting session on 3 retries of the undo of "add a note"
    And the output contains "manual intervention needed"
    And the audit trail names the reporting session in every retry and in the failure of the undo of "add a note"
