Feature: A backfill's figures on a dashboard
  A release engineer watches a long backfill on the team's Prometheus dashboards.
  `--metrics-file PATH` keeps a Prometheus text file current for node_exporter's textfile
  collector: replaced atomically after every batch and every event that changes a figure,
  so a scrape never reads half a file. `--pushgateway URL` pushes the same figures to a
  Prometheus pushgateway after each batch and at the end, in the background: the run never
  waits for it, only the command's end waits for the last push, two seconds at most. A
  pushgateway that is down or hangs never fails the run: it is one warning. A path or URL
  migrator cannot use is refused before anything runs. A command that runs nothing leaves
  the file and the pushgateway telling the last run.

  Background:
    Given the SQL:
      """
      create table src (id bigint primary key, v int);
      insert into src select g, g from generate_series(1, 20000) g;
      create table dst (id bigint, v int);
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
                batch_size: 2500
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
          post_checks:
            - {query: select count(*) from dst, expect: 20000}
      """

  Scenario: The backfill's rows, batches and rate in a file Prometheus reads, and at the pushgateway
    Given a pushgateway
    When I run "migrator apply fill.yaml --to full --metrics-file fill.prom"
    Then the exit code is 0
    And Prometheus reads "fill.prom" with "migrator_backfill_rows_walked_total" of step "copy" at 20000
    And Prometheus reads "fill.prom" with "migrator_backfill_batches_total" of step "copy" at 8
    And Prometheus reads "fill.prom" with "migrator_backfill_rows_per_second" of step "copy"
    And Prometheus reads "fill.prom" with "migrator_runs_total" of outcome "succeeded" at 1
    And Prometheus reads "fill.prom" with "migrator_command_exit_code" at 0
    And the pushgateway received the rows walked as they grew, the last at 20000
    And the last push says the command ended with exit code 0

  Scenario: A pushgateway that hangs never holds the run
    Given a pushgateway that never answers
    When I run "migrator apply fill.yaml --to full --metrics-file fill.prom"
    Then the exit code is 0
    And the run ended while the pushgateway still held its answer
    And the output contains "did not answer within 2 s: metrics not pushed"
    And Prometheus reads "fill.prom" with "migrator_backfill_rows_walked_total" of step "copy" at 20000

  Scenario: A metrics file in a folder that does not exist is refused before anything runs
    When I run "migrator apply fill.yaml --to full --metrics-file /nonexistent/fill.prom"
    Then the exit code is 2
    And the output contains "--metrics-file /nonexistent/fill.prom: the folder /nonexistent does not exist"
    And the query "select count(*) from dst" returns "0"

  Scenario: A pushgateway URL that is not http or https is refused before anything runs
    When I run "migrator apply fill.yaml --to full --pushgateway gateway.example:9091"
    Then the exit code is 2
    And the output contains "not an http:// or https:// URL"
    And the query "select count(*) from dst" returns "0"

  Scenario: A command that cannot reach the database leaves the last run's figures
    Given a pushgateway
    When I run "migrator apply fill.yaml --to full --metrics-file fill.prom"
    Then the exit code is 0
    When I run "migrator apply fill.yaml --to full --metrics-file fill.prom --dsn postgresql://nobody:x@127.0.0.1:1/none"
    Then the exit code is 5
    And Prometheus reads "fill.prom" with "migrator_runs_total" of outcome "succeeded" at 1
    And Prometheus reads "fill.prom" with "migrator_command_exit_code" at 0
    And the last push says the command ended with exit code 0
