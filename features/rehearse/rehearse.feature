Feature: Rehearsing a plan on a scratch copy
  Before a plan meets production, `migrator rehearse` copies the target's schema
  into a scratch database and takes every transition forward, back and forward
  again there. After the way back the tables, columns, indexes, policies, row
  level security and flags must be as they were before; a difference is laid at
  the step whose undo forgot it, and the rehearsal exits 1. The target itself is
  only read.

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
