Feature: Rehearsing a plan on a scratch copy
  Before a plan meets production, `migrator rehearse` copies the target's schema
  into a scratch database and takes every transition forward, back and forward
  again there. After the way back the tables, columns, indexes, policies, row
  level security and flags must be as they were before; a difference is laid at
  the step whose undo forgot it, and the rehearsal exits 1. The target itself is
  only read. The copy is made by a pg_dump at least as new as the target and
  restored on a server at least as new as that pg_dump (by default both the
  embedded PostgreSQL's, the newest); the output says which were used, and what
  does not fit is refused before anything is made.

  Background:
    Given scratch copies are made on the test server
    And the SQL:
      """
      create table items (id serial primary key, name text not null);
      insert into items (name) values ('first'), ('second');
      """

  Scenario: A plan whose every undo restores what it changed rehearses clean
    Given the plan "scores.yaml":
      """
      plan: scores
      phases: [before, after]
      transitions:
        - name: add_scores
          from: before
          to: after
          steps:
            - name: a score column
              sql: alter table items add column score int not null default 0
              rollback: {sql: alter table items drop column score}
            - name: scores on
              flag: {name: SCORES, value: true}
      """
    When I run "migrator rehearse scores.yaml"
    Then the exit code is 0
    And the output contains "add_scores (before -> after): forward, back by undoing its steps, forward again: clean"
    And the database has no schema "migrator"
    And the query "select count(*) from information_schema.columns where column_name = 'score'" returns "0"

  Scenario: An undo that forgets an index is named, with the index
    Given the plan "rank.yaml":
      """
      plan: rank
      phases: [before, after]
      transitions:
        - name: add_rank
          from: before
          to: after
          steps:
            - name: rank column and name index
              sql: |
                alter table items add column rank int;
                create index items_name_idx on items (name)
              rollback: {sql: alter table items drop column rank}
      """
    When I run "migrator rehearse rank.yaml"
    Then the exit code is 1
    And the output contains "step 'rank column and name index' of add_rank: its undo does not restore what it changed: index public.items_name_idx"
    And the database has no schema "migrator"
    And the query "select count(*) from items" returns "2"

  Scenario: The output says which pg_dump made the copy and which server took it
    Given the plan "notes.yaml":
      """
      plan: notes
      phases: [before, after]
      transitions:
        - name: add_notes
          from: before
          to: after
          steps:
            - name: a notes column
              sql: alter table items add column notes text
              rollback: {sql: alter table items drop column notes}
      """
    When I run "migrator rehearse notes.yaml"
    Then the exit code is 0
    And the output names the pg_dump and the scratch server the copy was made with

  Scenario: A pg_dump older than the target is refused before anything is made
    The copy needs a pg_dump of the target's major or newer: an older one refuses a
    newer server. What to give instead is said.

    Given a pg_dump that says it is "13.0" at "old/pg_dump"
    And the plan "notes.yaml":
      """
      plan: notes
      kind: hotfix
      steps:
        - {sql: alter table items add column notes text, rollback: {sql: alter table items drop column notes}}
      """
    When I run "migrator rehearse notes.yaml --pg-dump old/pg_dump"
    Then the exit code is 2
    And the output contains "pg_dump 13.0 (old/pg_dump, given by --pg-dump) is older than the target's PostgreSQL"
    And the output contains "it cannot copy a newer server's schema. Give --pg-dump PATH to a pg_dump"
    And no scratch database was made

  Scenario: A pg_dump newer than the scratch server is refused: the server could not read its copy
    A pg_dump writes its copy for its own major (pg_dump 17 and later write settings
    that 16 and older refuse), so a copy is never restored on an older server.

    Given a pg_dump that says it is "99.0" at "new/pg_dump"
    And the plan "notes.yaml":
      """
      plan: notes
      kind: hotfix
      steps:
        - {sql: alter table items add column notes text, rollback: {sql: alter table items drop column notes}}
      """
    When I run "migrator rehearse notes.yaml --pg-dump new/pg_dump"
    Then the exit code is 2
    And the output contains "pg_dump 99.0 (new/pg_dump, given by --pg-dump) writes its copy for PostgreSQL 99, which the scratch server"
    And the output contains "cannot be trusted to read"
    And no scratch database was made
