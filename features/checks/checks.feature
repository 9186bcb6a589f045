Feature: Checks and what they expect
  A check compares what the database says with what the plan expects, and the
  audit trail keeps both values. `on_fail: warn` records a failure and goes on;
  `wait` polls until the check passes; `soak` keeps checking for a while.

  Background:
    Given the SQL:
      """
      create table sessions (id int, status text);
      insert into sessions select g, 'completed' from generate_series(1, 40) g;
      create sequence polls;
      """

  Scenario Outline: Expectations
    Given the plan "expect.yaml":
      """
      plan: expect
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: completed sessions
              query: select count(*) from sessions where status = 'completed'
              expect: <expect>
          steps: [{sql: select 1}]
      """
    When I run "migrator apply expect.yaml --to after"
    Then the exit code is <code>
    And the output contains "pre-check completed sessions: <verdict> (actual 40, expected <shown>)"

    Examples:
      | expect   | code | verdict | shown  |
      | 40       | 0    | passed  | 40     |
      | ">= 40"  | 0    | passed  | >= 40  |
      | "> 40"   | 1    | failed  | > 40   |
      | "!= 0"   | 0    | passed  | != 0   |
      | 0        | 1    | failed  | 0      |

  Scenario: A warning is recorded and the run goes on
    Given the plan "warn.yaml":
      """
      plan: warn
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: no session is stuck
              query: select count(*) from sessions where status = 'completed'
              expect: 0
              on_fail: warn
          steps: [{sql: select 1}]
      """
    When I run "migrator apply warn.yaml --to after"
    Then the exit code is 0
    And the output contains "pre-check no session is stuck: warned (actual 40, expected 0)"

  Scenario: Wait polls until the check passes
    A check changes nothing: what it waits for comes from elsewhere. Here the queue is
    locked when the check first looks, so that look waits, and sees the queue as it was
    when it began; the row added meanwhile is there at the next look.

    Given the SQL:
      """
      create table queue (id int);
      """
    And the plan "wait.yaml":
      """
      plan: wait
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps: [{sql: select 1}]
          post_checks:
            - name: the queue drained
              query: select count(*) from queue
              expect: 1
              wait: {timeout: 30s, interval: 100ms}
      """
    And another session holds the table "queue" locked
    When "ops" runs "migrator apply wait.yaml --to after" in another terminal, until it waits for "queue"
    And the other session adds a row to "queue" and lets it go
    Then ops's run ends with exit code 0
    And the query "select detail->>'samples' from migrator.events where step = 'the queue drained'" returns "2"

  Scenario: A soak fails once failures pass the limit, and the run is undone
    Given the plan "soak.yaml":
      """
      plan: soak
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: mark, sql: create table marked (x int), rollback: {sql: drop table marked}}
          post_checks:
            - name: conversion stays up
              query: select false
              expect: true
              soak: {duration: 5s, interval: 50ms, failure_limit: 1}
      """
    When I run "migrator apply soak.yaml --to after"
    Then the exit code is 1
    And the output contains "2 of 2 samples failed"
    And the query "select to_regclass('marked') is null" returns "True"

  Scenario: Once a post-check has failed, the undo does not wait for the others' windows
    The run is undone whatever the later checks say: they are looked at once, for
    the record, and their wait or soak is not sat through.

    Given the plan "hurry.yaml":
      """
      plan: hurry
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: mark, sql: create table marked (x int), rollback: {sql: drop table marked}}
          post_checks:
            - name: the test session has a profile
              query: select count(*) from sessions where id = 0
              expect: 1
            - name: conversion recovers
              query: select 0
              expect: "> 90"
              wait: {timeout: 10m, interval: 1s}
            - name: conversion stays up
              query: select 100
              expect: "> 90"
              soak: {duration: 1h, interval: 1s}
      """
    When I run "migrator apply hurry.yaml --to after"
    Then the exit code is 1
    And the output contains "post-check the test session has a profile: failed (actual 0, expected 1)"
    And the output contains "post-check conversion recovers: failed (actual 0, expected > 90)"
    And the output contains "post-check conversion stays up: passed (actual 100, expected > 90)"
    And the output contains "evaluated once, without its wait or soak: an earlier check failed"
    And the query "select string_agg((detail->>'samples'), ',' order by id) from migrator.events where kind = 'check'" returns "1,1,1"
    And the query "select to_regclass('marked') is null" returns "True"

  Scenario: A failed pre-check stops the transition before its first step
    Given the plan "abort.yaml":
      """
      plan: abort
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: no session is stuck
              query: select count(*) from sessions where status = 'completed'
              expect: 0
          steps:
            - {name: mark, sql: create table marked (x int), rollback: {sql: drop table marked}}
      """
    When I run "migrator apply abort.yaml --to after"
    Then the exit code is 1
    And the output contains "pre-check no session is stuck: failed (actual 40, expected 0)"
    And the output contains "a pre-check failed: nothing was applied"
    And the query "select to_regclass('marked') is null" returns "True"
    And the plan "abort" is in phase "before"

  Scenario: Two queries must return the same rows, and the first difference is shown
    Given the SQL:
      """
      create table unified (id int);
      insert into unified select g from generate_series(1, 39) g;
      """
    And the plan "same.yaml":
      """
      plan: same
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: every session is unified
              query: select id from sessions
              expect: {equals_query: select id from unified}
          steps: [{sql: select 1}]
      """
    When I run "migrator apply same.yaml --to after"
    Then the exit code is 1
    And the output contains "pre-check every session is unified: failed (actual 40 rows, expected the same 39 rows)"
    And the output contains "40 rows against 39; 1 row only in the check's query"
    And the output contains "      id 40: only in the check's query"

  Scenario Outline: Checks compare honestly: no row and NULL pass only null, a boolean is not 1
    A query that finds nothing has not found something different from 0: it passes
    only `expect: null`, and the output says whether it returned no row or NULL. A
    boolean is a boolean: `expect: true` does not match 1, and text '1' is not the
    number 1. A comparison between two kinds of value fails and names both.

    Given the plan "honest.yaml":
      """
      plan: honest
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: the answer
              query: <query>
              expect: <expect>
          steps: [{sql: select 1}]
      """
    When I run "migrator apply honest.yaml --to after"
    Then the exit code is <code>
    And the output contains "pre-check the answer: <verdict>"
    And the output contains "<said>"

    Examples:
      | query                                    | expect    | code | verdict                             | said                                                       |
      | select id from sessions where id = 0     | "!= 0"    | 1    | failed (actual NULL, expected != 0) | the query returned no row                                  |
      | select max(id) from sessions where false | "!= 0"    | 1    | failed (actual NULL, expected != 0) | the query returned NULL                                    |
      | select id from sessions where id = 0     | null      | 0    | passed (actual NULL, expected NULL) | the query returned no row                                  |
      | select null::int                         | null      | 0    | passed (actual NULL, expected NULL) | run succeeded                                              |
      | select 1                                 | true      | 1    | failed (actual 1, expected true)    | the query returned a number (1) and expect is a boolean    |
      | select true                              | 1         | 1    | failed (actual true, expected 1)    | the query returned a boolean (true) and expect is a number |
      | select true                              | "== true" | 0    | passed (actual true, expected true) | run succeeded                                              |
      | select '1'                               | 1         | 1    | failed (actual 1, expected 1)       | the query returned a text ('1') and expect is a number     |
      | select 2.50::numeric                     | 2.5       | 0    | passed                              | run succeeded                                              |

  Scenario: equals_query compares in the database, jsonb and arrays included, and shows a difference readably
    The two queries are compared by the database (EXCEPT ALL both ways, duplicates
    counting), so no result set is loaded into migrator: a column of any type
    compares, json and point included, and the first differences are shown with their
    column names: the two rows of the same key (here the first column: the fewest first
    columns that tell the differing rows apart) side by side, only the columns that
    differ.

    Given the SQL:
      """
      create table docs (id int, body jsonb, tags text[], raw json, spot point);
      insert into docs values
        (1, '{"a": 1}', '{x,y}', '{"k": [1, 2]}', '(1,2)'),
        (2, '{"a": 2}', '{z}', '{"k": []}', '(3,4)');
      create table docs_copy as table docs;
      update docs_copy set body = '{"a": 20}' where id = 2;
      """
    And the plan "copy.yaml":
      """
      plan: copy
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: the copy is faithful
              query: select id, body, tags, raw, spot from docs
              expect: {equals_query: "select id, body, tags, raw, spot from docs_copy"}
          steps: [{sql: select 1}]
      """
    When I run "migrator apply copy.yaml --to after"
    Then the exit code is 1
    And the output contains "pre-check the copy is faithful: failed (actual 2 rows, expected the same 2 rows)"
    And the output contains "1 row only in the check's query; 1 row only in equals_query"
    And the output contains "      id 2: body {"a": 2} vs {"a": 20}"
