Feature: Ctrl-C, SIGTERM and surprises leave a run interrupted, never half told
  SIGINT (Ctrl-C) or SIGTERM stops a run at a safe point: the statement or batch in
  flight finishes, the run stops before its next step (or between two batches of a
  backfill), and it is recorded interrupted with the step under way. The command exits
  130 (SIGINT) or 143 (SIGTERM) and names the run and the commands that settle it.
  Nothing is undone by itself: `migrator resume` finishes the run, each step once, and
  `migrator rollback` undoes what it did. A second signal stops at once: the statement in
  flight is cancelled and rolled back, and the run is still recorded interrupted.

  Background:
    Given the SQL:
      """
      create table ran (step text);
      create table undone (step text);
      """
    And the plan "three.yaml":
      """
      plan: three
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: one, sql: "insert into ran values ('one')", rollback: {sql: "insert into undone values ('one')"}}
            - {name: two, sql: "insert into ran values ('two')", rollback: {sql: "insert into undone values ('two')"}}
            - {name: three, command: ["true", "${env:DEPLOY_TOKEN}"]}
      """
    And the environment variable "DEPLOY_TOKEN" is "tok-4419"

  Scenario: Ctrl-C lets the step in flight commit, then stops before the next one
    When "migrator apply three.yaml --to after" gets SIGINT while step "two" commits
    Then the exit code is 130
    And the output contains "SIGINT (Ctrl-C): run 1 (go) of plan three is left interrupted (stopped before step three)"
    And the output contains "`migrator resume three.yaml` continues it, `migrator rollback three.yaml` undoes what it did"
    And the output contains "plan three stays in phase before: stopped by SIGINT, the run is interrupted; `migrator resume "
    And the output does not contain "Traceback"
    And the runs of plan "three" are "go interrupted"
    And the query "select string_agg(step, ',' order by step) from ran" returns "one,two"

  Scenario: Resume finishes a stopped run, each step once
    Given "migrator apply three.yaml --to after" got SIGTERM while step "two" committed
    When I run "migrator resume three.yaml"
    Then the exit code is 0
    And the plan "three" is in phase "after"
    And the query "select string_agg(step, ',' order by step) from ran" returns "one,two"
    And the runs of plan "three" are "go succeeded"

  Scenario: SIGTERM exits 143, and rollback undoes what the stopped run did
    Given "migrator apply three.yaml --to after" got SIGTERM while step "two" committed
    When I run "migrator rollback three.yaml"
    Then the exit code is 0
    And the query "select string_agg(step, ',' order by step) from undone" returns "one,two"
    And the runs of plan "three" are "go undone"

  Scenario: A second Ctrl-C stops at once: the step in flight is rolled back, the run still recorded
    When "migrator apply three.yaml --to after" gets SIGINT twice while step "two" commits
    Then the exit code is 130
    And the output contains "stopped at once, while step two ran"
    And the runs of plan "three" are "go interrupted"
    And the query "select string_agg(step, ',' order by step) from ran" returns "one"

  Scenario: A backfill stops between two batches, and resumes from its checkpoint
    Given the SQL:
      """
      create table src (id int primary key, v int);
      create table dst (id int primary key, v int);
      insert into src select g, g from generate_series(1, 10000) g;
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
                statement: "insert into dst select id, v from src where id > :lo and id <= :hi on conflict do nothing"
      """
    When "migrator apply fill.yaml --to full" gets SIGTERM during batch 4 of its backfill
    Then the exit code is 143
    And the output contains "stopped between two batches of step copy"
    And the query "select count(*) from dst" returns "4000"
    And the runs of plan "fill" are "fill interrupted"
    And I run "migrator resume fill.yaml"
    And the exit code is 0
    And every row of "src" is in "dst" exactly once

  Scenario: Resume checks the environment first, and runs nothing without it
    Given "migrator apply three.yaml --to after" got SIGINT while step "one" committed
    And the environment variable "DEPLOY_TOKEN" is not set
    When I run "migrator resume three.yaml"
    Then the exit code is 2
    And the output contains "environment variable DEPLOY_TOKEN is not set"
    And the query "select string_agg(step, ',' order by step) from ran" returns "one"
    And the runs of plan "three" are "go interrupted"

  Scenario: An interrupted run blocks another transition with exit 2, naming the way out
    Given "migrator apply three.yaml --to after" got SIGINT while step "one" committed
    And the plan "three.yaml" has a transition "sideways" from "before" to "aside"
    When I run "migrator apply three.yaml --to aside --force"
    Then the exit code is 2
    And the output contains "run 1 (go) of plan three was interrupted: settle it with `migrator resume three.yaml` or `migrator rollback three.yaml` first"

  Scenario: A program's NUL bytes and broken text are kept in the audit trail
    Given the plan "loud.yaml":
      """
      plan: loud
      kind: hotfix
      steps:
        - name: print it
          command: ["python3", "-c", "import sys; sys.stdout.buffer.write(b'ok \\x00 \\xff done')"]
      """
    When I run "migrator apply loud.yaml"
    Then the exit code is 0
    And the query "select detail->'memo'->>'stdout' from migrator.events where status = 'done'" returns "ok \u0000 � done"
