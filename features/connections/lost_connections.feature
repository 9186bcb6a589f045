Feature: A run that loses its database connection
  The server may drop a run's connections at any moment: an administrator ends
  them, a failover or a restart closes them. A step that had not committed yet is
  redone on a new connection, so each step still runs exactly once, and a
  backfill redoes only the batch that was under way. The audit trail shows every
  retry. A database gone for longer than MIGRATOR_RECONNECT_TIMEOUT seconds ends
  the command with exit 5 and leaves the run interrupted, to be resumed once the
  database is back. A process cut off for so long that another process resumed
  or rolled back its run meanwhile finds the run no longer its own when it comes
  back: it stops with exit 4 and runs nothing more, so no step runs twice.

  Background:
    Given the plan "three.yaml":
      """
      plan: three
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')"}
            - {name: two, sql: "insert into ran values ('two')"}
            - {name: three, sql: "insert into ran values ('three')"}
      """

  Scenario: The server drops every connection of a run in the middle of a step
    Given the SQL:
      """
      create table ran (step text);
      """
    And the server will drop every connection of the run while step "two" runs
    When I run "migrator apply three.yaml --to after"
    Then the exit code is 0
    And the output contains "two (sql): retry after attempt 1, again in 0.5s — terminating connection due to administrator command"
    And the query "select string_agg(step, ',' order by step) from ran" returns "one,three,two"
    And the plan "three" is in phase "after"
    When I run "migrator history three.yaml"
    Then the output contains "run 1: go (before -> after) succeeded"
    And the output contains "step retry"
    And the output contains "lock reacquired"

  Scenario: A backfill redoes the batch whose connection was dropped, and only that one
    Given the SQL:
      """
      create table src (id bigint primary key, v text);
      insert into src select g, md5(g::text) from generate_series(1, 4000) g;
      create table dst (id bigint, v text);
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
                table: src
                key: id
                batch_size: 500
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
      """
    And the server will drop every connection of the run in the middle of a batch
    When I run "migrator apply fill.yaml --to full"
    Then the exit code is 0
    And the output contains "lost connection, retrying"
    And the output contains "4,000 rows walked, 4,000 written, in 8 batches, 0 failed, 1 retry"
    And every row of "src" is in "dst" exactly once
    And the plan "fill" is in phase "full"

  Scenario: A database gone for longer than the reconnect timeout leaves the run interrupted
    Given the database is on a server that can be stopped
    And the SQL:
      """
      create table ran (step text);
      """
    And the environment variable "MIGRATOR_RECONNECT_TIMEOUT" is "1"
    And the database will go away while step "two" runs
    When I run "migrator apply three.yaml --to after"
    Then the exit code is 5
    And the output contains "lost the database and could not reconnect within 1s"
    And the output contains "left interrupted"
    And the output contains "migrator resume three.yaml"
    And the output does not contain "Traceback"
    And the output does not show the database password
    Given the database is back
    When I run "migrator status three.yaml"
    Then the output contains "run 1 (go: before -> after) is interrupted"
    And the output contains "last step done: one"
    And the output contains "lock: free"
    When I run "migrator resume three.yaml"
    Then the exit code is 0
    And the query "select string_agg(step, ',' order by step) from ran" returns "one,three,two"
    And the plan "three" is in phase "after"
    When I run "migrator report 1"
    Then the output contains "run applying → interrupted"
    And the output contains "while step two ran"

  Scenario: A process cut off while a colleague resumed its run runs nothing more
    Given the SQL:
      """
      create table ran (step text);
      create table go_on (ok boolean);
      """
    And the plan "slow.yaml":
      """
      plan: slow
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')"}
            - name: long
              timeout: 60s
              sql: |
                insert into ran values ('long');
                do $$
                begin
                  while not exists (select 1 from go_on) loop
                    perform pg_sleep(0.05);
                  end loop;
                end
                $$
            - {name: three, sql: "insert into ran values ('three')"}
      """
    And "alice" is running "migrator apply slow.yaml --to after" in another terminal
    And alice's process is frozen
    And the server ends every session of alice's process
    And the SQL:
      """
      insert into go_on values (true);
      """
    When I run "migrator resume slow.yaml --operator bob"
    Then the exit code is 0
    And the plan "slow" is in phase "after"
    When alice's process wakes up
    Then the exit code is 4
    And the output contains "run 1 of plan slow was taken over by bob on"
    And the output contains "this process stopped and ran nothing more"
    And the query "select string_agg(step, ',' order by step) from ran" returns "long,one,three"
    And the plan "slow" is in phase "after"
