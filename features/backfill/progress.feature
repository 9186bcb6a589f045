Feature: The progress of a backfill at a terminal
  On a terminal a long step shows its progress live: its name on a line of its own,
  shortened with `…` when the terminal is narrow, then a bar and the figures: rows
  done of the total with the percent, rows written, the rate, the time left, the time
  elapsed and the streams. However narrow the terminal, a figure is never cut: they
  wrap between figures. The rate and the time left are measured over the same recent
  window, so they agree.

  Background:
    Given the SQL:
      """
      create table src (id bigint primary key, v text);
      insert into src select g, md5(g::text) from generate_series(1, 20000) g;
      create table dst (id bigint, v text);
      """
    And the plan "long.yaml":
      """
      plan: long
      phases: [empty, full]
      transitions:
        - name: fill
          from: empty
          to: full
          steps:
            - name: backfill the unified payloads of every historical scoring result into the new partitioned table, batch by batch, while the application runs
              backfill:
                table: src
                key: id
                batch_size: 1000
                parallel: 2
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
      """

  Scenario Outline: At <columns> columns the name is shortened, never a figure
    When I run "migrator apply long.yaml --to full" at a terminal <columns> columns wide
    Then the exit code is 0
    And no line of the progress is wider than <columns> columns
    And the progress showed "backfill the unified payloads of every historical" shortened with "…"
    And the progress showed "20,000 of 20,000 rows (100%)", "20,000 written", "rows/s", "left", "elapsed" and "2 streams"

    Examples:
      | columns |
      | 80      |
      | 120     |
