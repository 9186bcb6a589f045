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
    And the output contains "20,000 rows in 20 batches, 0 failed, 0 retries"
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
