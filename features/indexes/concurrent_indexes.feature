Feature: Concurrent index builds end valid, or fail naming why
  `CREATE INDEX CONCURRENTLY` does not lock writes out, but a build that fails or is
  killed half-way leaves an INVALID index behind: queries do not use it, writes still pay
  for it, and running the statement again fails ("already exists") or, with IF NOT
  EXISTS, does nothing. In a `sql` step with `autocommit: true`, migrator drops such a
  leftover before the build (and says so), checks the index valid after it, and drops the
  invalid index a failed build left, so that a retry or `migrator resume` builds it again.

  Background:
    Given the SQL:
      """
      create table users (email text);
      insert into users values ('a@b.c'), ('d@e.f');
      """
    And the plan "cic.yaml":
      """
      plan: cic
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: index the emails
              sql: create unique index concurrently users_email on users (email)
              autocommit: true
              rollback: {sql: drop index concurrently if exists users_email, autocommit: true}
      """

  Scenario: A concurrent index build killed half-way is built again on resume and ends valid
    Given "migrator apply cic.yaml --to after" was killed while its index build on "users" waited for an old transaction
    When I run "migrator status cic.yaml"
    Then the output contains "is interrupted"
    And the query "select indisvalid from pg_index where indexrelid = 'users_email'::regclass" returns "False"
    When I run "migrator resume cic.yaml"
    Then the exit code is 0
    And the output contains "dropping invalid index "public"."users_email" on table "public"."users""
    And the query "select indisvalid and indisready from pg_index where indexrelid = 'users_email'::regclass" returns "True"
    And the runs of plan "cic" are "go succeeded"

  Scenario: A unique index over duplicated keys fails naming the key
    Given the SQL:
      """
      insert into users values ('a@b.c');
      """
    When I run "migrator apply cic.yaml --to after"
    Then the exit code is 1
    And the output contains "could not create unique index "users_email": Key (email)=(a@b.c) is duplicated."
    And the query "select count(*) from migrator.events where status = 'failed' and detail->>'error' like '%Key (email)=(a@b.c) is duplicated.%'" returns "1"
    And the query "select count(*) from pg_class where relname = 'users_email'" returns "0"
    And the plan "cic" is in phase "before"
