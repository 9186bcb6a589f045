Feature: Failures read at a glance
  At 3 a.m. a failed run must say what failed and where the plan is now, without
  reading Python. A failed check is a red line with its actual and expected values as
  values (`0.724`, not `Decimal('0.724')`), and under it, indented, the difference as
  data: for `equals_query`, each row that differs paired with the other side's row of
  the same key (the fewest first columns that tell the differing rows apart on both
  sides; rows no key pairs surely are shown each on its own), only the columns that
  differ, in the query's order (`session_id 16103642-…: confidence 0.724 vs 0.362`).
  Long values are cut to the terminal; `--output json` keeps the differences as data
  (each value up to 2,000 characters, the rows themselves stay in the database).
  Every apply, rollback and resume ends with one line naming the plan's phase and what
  the exit code means.

  Background:
    Given the SQL:
      """
      create table results (session_id uuid primary key, type_code text, confidence numeric);
      create table legacy (session_id uuid primary key, type_code text, confidence numeric);
      insert into results values
        ('16103642-a0b1-4c2d-8e9f-0123456789ab', 'INTJ', 0.724),
        ('26103642-a0b1-4c2d-8e9f-0123456789ab', 'ENFP', 0.5);
      insert into legacy select * from results;
      update legacy set confidence = 0.362 where type_code = 'INTJ';
      """
    And the plan "parity.yaml":
      """
      plan: parity
      phases: [dual_write, unified_only]
      transitions:
        - name: cutover
          from: dual_write
          to: unified_only
          steps:
            - sql: create table cutover_done (x int)
              rollback: {sql: drop table cutover_done}
          post_checks:
            - name: unified and legacy agree
              query: select session_id, type_code, confidence from results
              expect:
                equals_query: select session_id, type_code, confidence from legacy
      """

  Scenario: A failed parity check shows the row that differs, by its key, and the plan's phase
    When I run "migrator apply parity.yaml --to unified_only"
    Then the exit code is 1
    And the output contains "✗ post-check unified and legacy agree: failed (actual 2 rows, expected the same 2 rows)"
    And under the line containing "post-check unified and legacy agree: failed", a line reads "2 rows against 2; 1 row only in the check's query; 1 row only in equals_query"
    And under the line containing "post-check unified and legacy agree: failed", a line reads "session_id 16103642-a0b1-4c2d-8e9f-0123456789ab: confidence 0.724 vs 0.362"
    And the last line of the output is "plan parity stays in phase dual_write: a post-check failed and what the run did was undone (exit 1)"
    And the query "select count(*) from pg_tables where tablename = 'cutover_done'" returns "0"

  Scenario: The differences are data in --output json, values as values
    When I run "migrator apply parity.yaml --to unified_only --output json"
    Then the exit code is 1
    And the check "unified and legacy agree" of the JSON document has the difference key "session_id" = "16103642-a0b1-4c2d-8e9f-0123456789ab"
    And the check "unified and legacy agree" of the JSON document has "confidence" differ as the numbers 0.724 and 0.362

  Scenario: history shows the check's values and its difference
    Given I ran "migrator apply parity.yaml --to unified_only" and it exited 1
    When I run "migrator history parity.yaml"
    Then the exit code is 0
    And the output contains "actual 2 rows, expected the same 2 rows"
    And the output contains "confidence 0.724 vs 0.362"
    And the output does not contain "Decimal("
    And the output does not contain "UUID("

  Scenario: history shows a difference's columns in the query's order, keyed by a composite key
    Given the SQL:
      """
      create table wide (t int, id int, v text, n int, j text);
      create table wide_legacy (t int, id int, v text, n int, j text);
      insert into wide values (1, 1, 'a', 1, 'p'), (1, 2, 'b', 2, 'q');
      insert into wide_legacy values (1, 1, 'x', 9, 'z'), (1, 3, 'b', 2, 'q');
      """
    And the plan "wide.yaml":
      """
      plan: wide
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - sql: select 1
          pre_checks:
            - name: same wide rows
              query: select t, id, v, n, j from wide
              expect:
                equals_query: select t, id, v, n, j from wide_legacy
      """
    And I ran "migrator apply wide.yaml --to after" and it exited 1
    When I run "migrator history wide.yaml"
    Then the exit code is 0
    And the output contains "t 1, id 1: v a vs x; n 1 vs 9; j p vs z"
    And the output contains "t 1, id 2: only in the check's query (v: b, n: 2, j: q)"
    And the output contains "t 1, id 3: only in equals_query (v: b, n: 2, j: q)"

  Scenario: Every apply, rollback and resume ends naming the phase and the exit code's meaning
    Given the SQL:
      """
      update legacy set confidence = 0.724 where type_code = 'INTJ';
      """
    When I run "migrator apply parity.yaml --to unified_only"
    Then the exit code is 0
    And the last line of the output is "plan parity is now in phase unified_only (exit 0)"
    When I run "migrator apply parity.yaml --to unified_only"
    Then the last line of the output is "plan parity is in phase unified_only (exit 0)"
    When I run "migrator rollback parity.yaml"
    Then the exit code is 0
    And the last line of the output is "plan parity is now in phase dual_write (exit 0)"
    When I run "migrator resume parity.yaml"
    Then the last line of the output is "plan parity is in phase dual_write (exit 0)"

  Scenario: A run whose undo failed ends saying so, and how to settle it
    Given the plan "broken.yaml":
      """
      plan: broken
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - sql: create table made (x int)
              rollback: {sql: drop table no_such_table}
          post_checks:
            - {name: never, query: select 1, expect: 2}
      """
    When I run "migrator apply broken.yaml --to after"
    Then the exit code is 3
    And the last line of the output starts with "plan broken stays in phase before: undoing failed, the run needs a person; `migrator resume "
    And the last line of the output ends with "broken.yaml` settles it (exit 3)"
