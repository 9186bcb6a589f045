Feature: The trace of a rehearsal: what each step locks and rewrites
  A migration that looks harmless can still stop the application: an index built
  without CONCURRENTLY, a type change that rewrites the table under ACCESS
  EXCLUSIVE, a policy that waits behind every long transaction on its table.
  Lock modes and rewrites do not depend on the rows, so the scratch copy shows
  them: for every step of every leg, `migrator rehearse` reads the locks the
  step's transaction holds just before it commits, the tables it rewrote, the
  constraints and indexes it made, and says it in one line per step. A step
  outside a transaction commits statement by statement: its locks are not
  traced, and the report says so.

  Background:
    Given scratch copies are made on the test server
    And the SQL:
      """
      create table profiles (id int primary key, name text, score int);
      """
    And the plan "tighten.yaml":
      """
      plan: tighten
      phases: [before, after]
      transitions:
        - name: tighten
          from: before
          to: after
          steps:
            - name: everyone reads profiles
              policy: {table: profiles, name: profiles are public, command: select, to: public, using: "true"}
            - name: scores are big
              sql: alter table profiles alter column score type bigint
              rollback: {sql: alter table profiles alter column score type int}
            - name: index the names
              sql: create index profiles_name_idx on profiles (name)
              rollback: {sql: drop index profiles_name_idx}
            - name: index the scores concurrently
              autocommit: true
              sql: create index concurrently profiles_score_idx on profiles (score)
              rollback: {sql: drop index concurrently profiles_score_idx, autocommit: true}
      """

  Scenario: Each step says the locks it took and what it rewrote
    When I run "migrator rehearse tighten.yaml"
    Then the exit code is 0
    And the output contains "forward 'everyone reads profiles': takes ACCESS EXCLUSIVE on public.profiles"
    And the output contains "forward 'scores are big': takes ACCESS EXCLUSIVE on public.profiles and public.profiles_pkey; rewrites public.profiles"
    And the output contains "forward 'index the names': takes SHARE on public.profiles; builds index public.profiles_name_idx on public.profiles (valid)"
    And the output contains "forward 'index the scores concurrently': locks not traced (outside a transaction); builds index public.profiles_score_idx on public.profiles (valid)"
    And the output contains "back 'undo scores are big': takes ACCESS EXCLUSIVE on public.profiles and public.profiles_pkey; rewrites public.profiles"

  Scenario: The JSON gives the locks and rewrites of every step of every leg
    When I run "migrator rehearse tighten.yaml --output json"
    Then the exit code is 0
    And the trace of "forward" step "everyone reads profiles" has the lock "AccessExclusiveLock" on "public.profiles"
    And the trace of "forward" step "scores are big" rewrote "public.profiles"
    And the trace of "forward" step "index the names" has the lock "ShareLock" on "public.profiles"
    And the trace of "forward again" step "index the names" has the lock "ShareLock" on "public.profiles"
    And the trace of "back" step "undo index the names" has the lock "AccessExclusiveLock" on "public.profiles"
    And the trace of "forward" step "index the scores concurrently" has its locks not traced
