Feature: The migration inside the CI job's trace
  A release engineer's CI job is traced with OpenTelemetry, and hands its span on in
  TRACEPARENT. With `migrator[otel]` installed and the job's OTEL_* settings asking for
  traces, `migrator apply` is a span of that trace: under it a span for each run (a
  transition), and under each run a span for each check, step and undo, with the plan,
  step, action, outcome and exit code as attributes. A failing run's spans show where it
  failed (status ERROR, the error as its message) and what was undone. Without OTEL_*
  settings nothing is traced and nothing of OpenTelemetry is loaded.

  Background:
    Given the SQL:
      """
      create table ran (step text);
      create table undone (step text);
      """
    And the plan "widgets.yaml":
      """
      plan: widgets
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')", rollback: {sql: "insert into undone values ('one')"}}
            - {name: two, sql: "insert into ran values ('two')", rollback: {sql: "insert into undone values ('two')"}}
          post_checks:
            - {name: both rows, query: select count(*) from ran, expect: 2}
      """

  Scenario: The migration sits inside the CI job's trace
    Given the CI job's trace is handed on in TRACEPARENT
    When I run "migrator apply widgets.yaml --to after"
    Then the exit code is 0
    And the span "migrator apply widgets" is a child of the CI job's span
    And the span "run go (before -> after)" holds "step one, step two, post-check both rows"
    And the span "step two" has "migrator.action" = "sql" and "migrator.outcome" = "done"
    And the span "migrator apply widgets" has "migrator.exit_code" = "0"

  Scenario: A failing run's spans show where it failed and its undo
    Given the CI job's trace is handed on in TRACEPARENT
    And the SQL:
      """
      insert into ran values ('someone else');
      """
    When I run "migrator apply widgets.yaml --to after"
    Then the exit code is 1
    And the span "run go (before -> after)" holds "step one, step two, post-check both rows, undo two, undo one"
    And the span "post-check both rows" failed with "expected"
    And the span "run go (before -> after)" has "migrator.outcome" = "undone"
    And the span "migrator apply widgets" has "migrator.exit_code" = "1"

  Scenario: Without OTEL settings nothing is traced
    When I run "migrator apply widgets.yaml --to after"
    Then the exit code is 0
    And no span was made
