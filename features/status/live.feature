Feature: Watching a run from a second terminal
  At 3 a.m. the operator runs migrator in one pane and watches it from another.
  `migrator status PLAN` of a run at work names its step, how long it has run and who
  runs it where; for a backfill the rows done of the total with the percent, the rate
  over the last 30 seconds, the time left at that rate, its streams, the age of its last
  batch, a pause (by whom, since when) or what holds it back; for a lock wait the
  sessions it waits for. An interrupted run says how far it got and the commands that
  settle it. `--output json` gives the same as a document; `--watch` shows it again
  until the run ends. Without a plan, `migrator status` lists every plan in the database.

  Background:
    Given the SQL:
      """
      create table src (id bigint primary key, v text);
      insert into src select g, md5(g::text) from generate_series(1, 100000) g;
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
                throttle: 50ms
                throttle_query: select high from pressure
                statement: insert into dst select id, v from src where id > :lo and id <= :hi
              rollback: {sql: truncate dst}
      """

  Scenario: A throttled backfill watched from a second terminal, paused and continued
    Given "alice" is running "migrator apply fill.yaml --to full" in another terminal
    And the terminal "text" watches "migrator status fill.yaml --watch --interval 0.5"
    And the terminal "json" watches "migrator status fill.yaml --watch --interval 0.5 --output json"
    When the status of "fill.yaml" shows the backfill "copy" under way
    Then the status of "fill.yaml" shows more rows done, a rate and the time left
    And the status of "fill.yaml" shows run of "alice" in step "copy", running
    When the database comes under pressure
    Then the status of "fill.yaml" shows the backfill throttled: "the throttle query holds"
    When I run "migrator pause fill.yaml --operator bob"
    Then the status of "fill.yaml" shows the backfill paused by "bob"
    When I run "migrator status fill.yaml"
    Then the output contains "backfill: paused by bob since"
    And the output contains "step: copy"
    And the output contains "rows/s"
    And the terminal "text" shows "backfill: paused by bob since"
    And the terminal "json" shows a document with the backfill paused by "bob"
    When I run "migrator continue fill.yaml"
    And the pressure is off
    Then alice's run ends with exit code 0
    And the watch in terminal "text" ends with exit code 0 saying "ended succeeded; plan fill is in phase full"
    And the watch in terminal "json" ends with exit code 0, a document a line, the last saying the run "succeeded"
    When I run "migrator status fill.yaml --output json"
    Then the output is a JSON document whose "open_run" is "None"
    And the output is a JSON document whose "phase" is "full"

  Scenario: On a terminal the watch redraws in place, and Ctrl-C stops watching, not the run
    Given the database is under pressure
    And "alice" is running "migrator apply fill.yaml --to full" in another terminal
    And a terminal of 60 columns watches "migrator status fill.yaml --watch --interval 0.2"
    When the terminal shows "waiting: the throttle query holds"
    And the watch is stopped with Ctrl-C
    Then the watch ends with exit code 130 saying "stopped watching (Ctrl-C); the runs go on"
    And no line the terminal showed is wider than 60 columns
    And the terminal showed the lock's line whole, wrapped and not cut, to its time zone
    And the status of "fill.yaml" shows run of "alice" in step "copy", running
    When the pressure is off
    Then alice's run ends with exit code 0

  Scenario: A watched run whose process dies ends the watch, which says so
    Given the database is under pressure
    And "alice" is running "migrator apply fill.yaml --to full" in another terminal
    And the terminal "text" watches "migrator status fill.yaml --watch --interval 0.2"
    When the terminal "text" shows "step: copy"
    And alice's process is killed
    Then the watch in terminal "text" ends with exit code 0 saying "run 1 (fill: empty -> full) stopped interrupted (recorded as applying); plan fill is in phase empty; `migrator resume fill.yaml` or `migrator rollback fill.yaml` settles it"

  Scenario: An interrupted backfill says how far it got and what settles it
    Given "migrator apply fill.yaml --to full" was killed after 5 batches
    When I run "migrator status fill.yaml"
    Then the output contains "run 1 (fill: empty -> full) is interrupted (recorded as applying)"
    And the output contains "stopped during step: copy"
    And the output contains "backfill copy: "
    And the output contains "of 100,000 rows ("
    And the output contains "settle it: migrator resume fill.yaml  |  migrator rollback fill.yaml"
    When I run "migrator status fill.yaml --output json"
    Then the output is a JSON document whose "open_run.state" is "interrupted"
    And the output is a JSON document whose "open_run.stopped_during" is "copy"
    And the output is a JSON document whose "open_run.current_step" is "None"
    And the output is a JSON document whose "open_run.backfill.step" is "copy"
    And the status document counts at least 5000 rows done, as the checkpoint committed
    And the output is a JSON document whose "open_run.settle.0" is "migrator resume fill.yaml"

  Scenario: A run whose undo failed says so and what settles it
    Given the plan "broken.yaml":
      """
      plan: broken
      phases: [a, b]
      transitions:
        - name: go
          from: a
          to: b
          steps:
            - name: make t
              sql: create table t (id int)
              rollback: {sql: drop table no_such_table}
            - name: divide
              sql: select 1/0
              rollback: {sql: select 1}
      """
    And I ran "migrator apply broken.yaml --to b" and it exited 3
    When I run "migrator status broken.yaml"
    Then the output contains "run 1 (go: a -> b) is blocked: its undo failed (recorded as undo_failed)"
    And the output contains "why: undoing make t failed: table "no_such_table" does not exist"
    And the output contains "settle it: migrator resume broken.yaml  |  migrator rollback broken.yaml"
    When I run "migrator status broken.yaml --output json"
    Then the output is a JSON document whose "open_run.state" is "undo_failed"

  Scenario: A run waiting for a lock names the session it waits for
    Given the plan "mark.yaml":
      """
      plan: mark
      phases: [before, after]
      transitions:
        - name: mark
          from: before
          to: after
          steps:
            - name: widen v
              lock_timeout: 1m
              sql: alter table src add column note text
              rollback: {sql: alter table src drop column note}
      """
    And the session "report-tool" holds the table "src"
    And "alice" is running "migrator apply mark.yaml --to after" in another terminal
    When alice's run waits for a lock
    And I run "migrator status mark.yaml --output json"
    Then the output is a JSON document whose "open_run.state" is "waiting_for_lock"
    And the output is a JSON document whose "open_run.current_step" is "widen v"
    And the output is a JSON document whose "open_run.lock_wait.blockers.0.application" is "report-tool"
    When I run "migrator status mark.yaml"
    Then the output contains "is waiting for a lock (applying)"
    And the output contains "waiting for a lock held by pid"
    And the output contains "(report-tool, "
    When the session "report-tool" lets go
    Then alice's run ends with exit code 0

  Scenario: A run retried after a lock wait names who blocked it at its last retry
    Given the plan "mark.yaml":
      """
      plan: mark
      phases: [before, after]
      transitions:
        - name: mark
          from: before
          to: after
          steps:
            - name: widen v
              lock_timeout: 200ms
              retries: 10
              sql: alter table src add column note text
              rollback: {sql: alter table src drop column note}
      """
    And the session "report-tool" holds the table "src"
    And "alice" is running "migrator apply mark.yaml --to after" in another terminal
    When alice's run has retried a step
    And I run "migrator status mark.yaml --output json"
    Then the output is a JSON document whose "open_run.lock_wait.last_retry.step" is "widen v"
    And the output is a JSON document whose "open_run.lock_wait.last_retry.blockers.0.application" is "report-tool"
    When I run "migrator status mark.yaml"
    Then the output contains "last retry (widen v, "
    And the output contains "): blocked by pid"
    When the session "report-tool" lets go
    Then alice's run ends with exit code 0

  Scenario: Without a plan, status lists every plan in the database
    Given the plan "flags.yaml":
      """
      plan: flags
      phases: [dark, live]
      transitions:
        - name: turn_on
          from: dark
          to: live
          steps:
            - {name: feature on, flag: {name: FEATURE, value: true}}
      """
    And I ran "migrator apply flags.yaml --to live"
    And "migrator apply fill.yaml --to full" was killed after 2 batches
    When I run "migrator status"
    Then the exit code is 0
    And the output contains "last run 1 turn_on: succeeded"
    And the output contains "run 2 fill: interrupted"
    And the output contains "fill  empty"
    And the output contains "settle it: migrator resume fill.yaml  |  migrator rollback fill.yaml"
    When I run "migrator status --output json"
    Then the output is a JSON document whose "plans.0.plan" is "fill"
    And the output is a JSON document whose "plans.0.open_run.state" is "interrupted"
    And the output is a JSON document whose "plans.0.phase" is "empty"
    And the output is a JSON document whose "plans.1.plan" is "flags"
    And the output is a JSON document whose "plans.1.phase" is "live"
    And the output is a JSON document whose "plans.1.open_run" is "None"

  Scenario: Watching when no run is at work shows the status once
    When I run "migrator status fill.yaml --watch --output json"
    Then the exit code is 0
    And the output is a JSON document whose "phase" is "empty"
    And the output is a JSON document whose "ended" is "[]"

  Scenario: Without a plan on a database migrator never touched, status says so and writes nothing
    When I run "migrator status"
    Then the exit code is 0
    And the output contains "no plan has run on this database yet"
    And the database has no schema "migrator"
    When I run "migrator status --output json"
    Then the output is a JSON document whose "plans" is "[]"

  Scenario: Status without a plan of a database that cannot be reached, and a watch too eager
    When I run "migrator status --dsn postgresql://ops:hunter2@127.0.0.1:1/prod"
    Then the exit code is 5
    And the output does not contain "hunter2"
    When I run "migrator status fill.yaml --watch --interval 0"
    Then the exit code is 2
    And the output contains "Invalid value for '--interval'"
    When I run "migrator status fill.yaml --interval 5"
    Then the exit code is 2
    And the output contains "--interval is the pace of --watch: give --watch too"

  Scenario: A pause left set by a run that died is shown, and continue clears it
    Given "alice" is running "migrator apply fill.yaml --to full" in another terminal
    When I run "migrator pause fill.yaml --operator bob"
    Then the backfill stands still
    When alice's process is killed
    And I run "migrator status fill.yaml"
    Then the output contains "is interrupted"
    And the output contains "backfill: paused (no run is live)"
    When I run "migrator continue fill.yaml"
    Then the exit code is 0
    And the output contains "plan fill: no run of it is live; its pause is cleared"
    When I run "migrator status fill.yaml"
    Then the output does not contain "paused"
    When I run "migrator resume fill.yaml"
    Then the exit code is 0
    And every row of "src" is in "dst" exactly once
