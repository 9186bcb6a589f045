Feature: Backfilling in parallel streams
  With `parallel: N` a backfill runs N batches at once, each on a connection of its
  own, while one more connection finds where each batch ends. Batches may then commit
  out of order; each still commits together with its own record in the checkpoint, so
  a killed backfill resumes without doing a batch twice or leaving one out, even with
  another batch size or another number of streams.

  Background:
    Given the SQL:
      """
      create table src (id bigint primary key, v text);
      insert into src select g, md5(g::text) from generate_series(1, 20000) g;
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
                batch_size: 1000
                parallel: 3
                throttle: 30ms
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
          post_checks:
            - {query: select count(*) from dst, expect: 20000}
      """

  Scenario: The dry run says how many streams will run
    When I run "migrator plan fill.yaml --to full"
    Then the output contains "20,000 rows in 20 batches of 1,000"
    And the output contains "3 parallel streams: 3 connections run batches at once"

  Scenario: Three streams copy every row once
    When I run "migrator apply fill.yaml --to full"
    Then the exit code is 0
    And the output contains "20,000 rows walked, 20,000 written, in 20 batches, 0 failed, 0 retries"
    And the output contains "3 parallel streams"
    And every row of "src" is in "dst" exactly once

  Scenario: A killed parallel backfill resumes with fewer streams and other batches
    Given "migrator apply fill.yaml --to full" was killed after 5 batches
    And the plan "fill.yaml" now runs 1 stream
    When I run "migrator resume fill.yaml --force --batch-size 700"
    Then the exit code is 0
    And the output contains "resuming after key"
    And every row of "src" is in "dst" exactly once
