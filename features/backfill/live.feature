Feature: Backfilling under live traffic
  The application keeps writing while a backfill runs. A backfill walks its driving
  table up to the largest key present when it started: rows the application adds after
  that are its own to write (it writes both places by then), so a table that keeps
  growing cannot keep the walk from ending. `follow: true` walks on until no key is left.
  The summary counts the rows walked and the rows the statement wrote apart. Every
  batch waits for a row lock no longer than the step's lock_timeout: a batch behind a
  lock another session holds gives up in time, names that session, and is tried again.

  Background:
    Given the SQL:
      """
      create table src (id bigint primary key, v text);
      insert into src select g, 'v' || g from generate_series(1, 1000) g;
      create table dst (id bigint primary key, v text);
      -- the application: each batch that copies rows adds 50 new ones to src, until 3000
      create sequence grow_ids start 1001;
      create function grow() returns trigger language plpgsql as $$ begin
        insert into src select nextval('grow_ids'), 'new' from generate_series(1, 50)
          where (select max(id) from src) < 3000;
        return null;
      end $$;
      create trigger grow after insert on dst for each statement execute function grow();
      """
    And the plan "copy.yaml":
      """
      plan: copy
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
                batch_size: 100
                statement: insert into dst select id, v from src where id > :lo and id <= :hi on conflict do nothing
              rollback: {sql: truncate dst}
      """

  Scenario: The dry run says where the walk will end
    When I run "migrator plan copy.yaml --to full"
    Then the output contains "1,000 rows in 10 batches of 100"
    And the output contains "the walk ends at key '1000', the largest now (follow: false)"

  Scenario: A backfill against a table receiving inserts ends at the key it started with
    When I run "migrator apply copy.yaml --to full"
    Then the exit code is 0
    And the output contains "copy: 1,000 rows walked, 1,000 written, in 10 batches"
    And the query "select count(*) from dst" returns "1000"
    And the query "select max(id) from dst" returns "1000"
    And the query "select count(*) from src" returns "1500"

  Scenario: With follow: true the backfill walks the new rows too, until none is left
    Given the plan "copy.yaml" now follows new rows
    When I run "migrator apply copy.yaml --to full"
    Then the exit code is 0
    And the output contains "copy: 3,000 rows walked, 3,000 written"
    And the query "select count(*) from dst" returns "3000"
    And the query "select count(*) from src" returns "3000"

  Scenario Outline: Rows written are counted apart from the rows walked
    A statement that writes every fourth row (<kind>) walks all of them and writes a quarter.

    Given the plan "touch.yaml":
      """
      plan: touch
      phases: [before, after]
      transitions:
        - name: touch
          from: before
          to: after
          steps:
            - name: mark
              backfill:
                table: src
                key: id
                batch_size: 100
                statement: STATEMENT
              rollback: irreversible
      """
    And the plan "touch.yaml" has its backfill statement written as "<statement>"
    When I run "migrator apply touch.yaml --to after"
    Then the exit code is 0
    And the output contains "mark: 1,000 rows walked, 250 written, in 10 batches"
    And the query "<check>" returns "250"

    Examples:
      | kind   | statement                                                                                           | check                                         |
      | UPDATE | update src set v = 'marked' where id > :lo and id <= :hi and id % 4 = 0                             | select count(*) from src where v = 'marked'   |
      | DELETE | delete from src where id > :lo and id <= :hi and id % 4 = 0                                         | select 1000 - count(*) from src where id <= 1000 |
      | INSERT | insert into dst select id, v from src where id > :lo and id <= :hi and id % 4 = 0 on conflict do nothing | select count(*) from dst                      |

  Scenario: A batch behind a row lock names the blocker and is retried until it leaves
    Given the plan "mark.yaml":
      """
      plan: mark
      phases: [before, after]
      transitions:
        - name: mark
          from: before
          to: after
          steps:
            - name: mark
              lock_timeout: 200ms
              backfill:
                table: src
                key: id
                batch_size: 100
                statement: update src set v = 'marked' where id > :lo and id <= :hi
              rollback: {sql: "update src set v = 'v' || id where v = 'marked'"}
      """
    And the session "support-tool" holds the row of "src" with id 150 until a batch is retried
    When I run "migrator apply mark.yaml --to after"
    Then the exit code is 0
    And the output contains "retry of batch after key 100 after attempt 1, again in 0.5s"
    And the output contains "lock timeout — blocked by pid"
    And the output contains "(support-tool, "
    And the audit trail has a retry of "batch after key 100" blocked by "support-tool"
    And the query "select count(*) from src where v = 'marked'" returns "1000"

  Scenario: The backfill's own reads behind a table lock name the holder and go on once it leaves
    Given the plan "mark.yaml":
      """
      plan: mark
      phases: [before, after]
      transitions:
        - name: mark
          from: before
          to: after
          steps:
            - name: mark
              lock_timeout: 200ms
              backfill:
                table: src
                key: id
                batch_size: 100
                statement: update src set v = 'marked' where id > :lo and id <= :hi
              rollback: {sql: "update src set v = 'v' || id where v = 'marked'"}
      """
    And the session "report-tool" holds the table "src" until a retry is recorded
    When I run "migrator apply mark.yaml --to after"
    Then the exit code is 0
    And the output contains "retry of reading the walk's start after attempt 1, again in 0.5s"
    And the output contains "lock timeout — blocked by pid"
    And the output contains "(report-tool, "
    And the audit trail has a retry of "reading the walk's start" blocked by "report-tool"
    And the query "select count(*) from src where v = 'marked'" returns "1000"
