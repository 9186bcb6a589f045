Feature: Backfilling data in batches
  A backfill walks the driving table in key order, one batch per transaction,
  each committed together with its checkpoint. A killed backfill resumes after
  its last committed batch: no row twice, no row missed. An operator can hold it
  between batches, and it waits by itself while the database is under pressure.

  Background:
    Given the SQL:
      """
      create table src (id bigint primary key, v text);
      insert into src select g, md5(g::text) from generate_series(1, 20000) g;
      create table dst (id bigint, v text);
      create table pressure (high boolean);
      insert into pressure values (false);
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
                batch_size: 1000
                throttle: 30ms
                throttle_query: select high from pressure
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
          post_checks:
            - {query: select count(*) from dst, expect: 20000}
      """

  Scenario: The dry run says how much there is to do
    When I run "migrator plan fill.yaml --to full"
    Then the output contains "20,000 rows in 20 batches of 1,000"
    And the output contains "first batch: :lo = '0' (exclusive), :hi = '1000' (inclusive), 1000 rows"

  Scenario: A backfill reports what it did
    When I run "migrator apply fill.yaml --to full"
    Then the exit code is 0
    And the output contains "20,000 rows walked, 20,000 written, in 20 batches, 0 failed, 0 retries"
    And every row of "src" is in "dst" exactly once

  Scenario: A killed backfill resumes after its last committed batch
    Given "migrator apply fill.yaml --to full" was killed after 5 batches
    When I run "migrator resume fill.yaml"
    Then the exit code is 0
    And the output contains "resuming after key"
    And every row of "src" is in "dst" exactly once

  Scenario: Pause and continue a running backfill
    Given "alice" is running "migrator apply fill.yaml --to full" in another terminal
    When I run "migrator pause fill.yaml"
    Then the backfill stands still
    And I run "migrator status fill.yaml"
    And the output contains "backfill: paused"
    When I run "migrator continue fill.yaml"
    Then alice's run ends with exit code 0
    And every row of "src" is in "dst" exactly once

  Scenario: A paused backfill says so while it is paused, and when it runs again
    Given "alice" is running "migrator apply fill.yaml --to full" in another terminal
    When I run "migrator pause fill.yaml"
    Then the backfill stands still
    When I run "migrator continue fill.yaml"
    Then alice's run ends with exit code 0, "copy" said paused, then running again

  Scenario: Pause and continue are refused when no backfill is running
    When I run "migrator pause fill.yaml"
    Then the exit code is 2
    And the output contains "plan fill has no backfill running (no run of it is live): nothing to pause"
    When I run "migrator continue fill.yaml"
    Then the exit code is 2
    When I run "migrator apply fill.yaml --to full"
    Then the exit code is 0
    And every row of "src" is in "dst" exactly once

  Scenario: The backfill waits while the database is under pressure
    Given the SQL:
      """
      update pressure set high = true;
      """
    And "alice" is running "migrator apply fill.yaml --to full" in another terminal
    Then the backfill stands still
    Given the SQL:
      """
      update pressure set high = false;
      """
    Then alice's run ends with exit code 0
    And every row of "src" is in "dst" exactly once

  Scenario: A statement changed since the checkpoint is refused on resume, and goes on with --force
    Given "migrator apply fill.yaml --to full" was killed after 5 batches
    And the statement of "fill.yaml" is now "insert into dst select id, v from src where id > :lo and id <= :hi on conflict do nothing"
    When I run "migrator resume fill.yaml"
    Then the exit code is 2
    And the output contains "fill.yaml changed since run 1 started (checksum differs): check the change, then repeat with --force"
    When I run "migrator status fill.yaml"
    Then the output contains "is interrupted"
    When I run "migrator resume fill.yaml --force"
    Then the exit code is 0
    And the output contains "resuming after key"
    And every row of "src" is in "dst" exactly once

  Scenario: A resumed backfill goes on with the batch size given to resume
    Given "migrator apply fill.yaml --to full" was killed after 5 batches
    When I run "migrator resume fill.yaml --batch-size 700"
    Then the exit code is 0
    And the resumed backfill went on in batches of 700
    And every row of "src" is in "dst" exactly once

  Scenario: A batch that runs longer than its batch_timeout fails the step, the summary says how far it got, and the run is undone
    Given the SQL:
      """
      create function slow_row(k bigint) returns boolean language plpgsql as $$
      begin
        if k = 15001 then perform pg_sleep(5); end if;
        return true;
      end $$;
      """
    And the plan "slow.yaml":
      """
      plan: slow
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
                batch_size: 1000
                batch_timeout: 500ms
                statement: insert into dst select id, v from src where id > :lo and id <= :hi and slow_row(id)
              rollback: {sql: truncate dst}
      """
    When I run "migrator apply slow.yaml --to full"
    Then the exit code is 1
    And the output contains "copy (backfill): failed — canceling statement due to statement timeout"
    And the output contains "copy stopped: 15,000 rows walked, 15,000 written, in 15 batches, 1 failed, 0 retries"
    And the audit trail of plan "slow" shows the undo of "copy"
    And the query "select count(*) from dst" returns "0"
    And the plan "slow" is in phase "empty"

  Scenario: max_rate holds the backfill to the rows per second it allows
    3,000 rows at 2,000 rows per second cannot be done in less than a second and a half.

    Given the plan "paced.yaml":
      """
      plan: paced
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
                where: id <= 3000
                batch_size: 500
                max_rate: 2000
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
      """
    When I run "migrator apply paced.yaml --to full"
    Then the exit code is 0
    And the output contains "3,000 rows walked, 3,000 written, in 6 batches, 0 failed, 0 retries"
    And the backfill "copy" took at least 1.5 seconds
    And the query "select count(*) from dst" returns "3000"

  @slow
  Scenario: Without a terminal a backfill prints a progress line every few seconds, and a summary
    Given the plan "steady.yaml":
      """
      plan: steady
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
                batch_size: 1000
                max_rate: 3000
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
      """
    When I run "migrator apply steady.yaml --to full"
    Then the exit code is 0
    And the output shows the progress of "copy" in rows of 20,000, rows written, rows per second and time left
    And the backfill "copy" sums up "20,000 rows walked, 20,000 written, in 20 batches, 0 failed, 0 retries" with its elapsed time, mean and slowest batch
    And every row of "src" is in "dst" exactly once
