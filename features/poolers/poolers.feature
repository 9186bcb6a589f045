Feature: Connection poolers
  A run holds its plan's lock and its session's settings for its whole life. Through
  a pooler in transaction mode (PgBouncer pool_mode = transaction, Supabase's port
  6543) neither holds: each transaction may run on another server session, and a
  session serves other clients in between. Migrator finds that out before it writes
  anything, not even schema migrator, and exits 2 saying what to use instead. A
  pooler in session mode gives each connection a server session of its own: plans
  apply and roll back through it, one run at a time. The commands that only read
  (status, history, plan, report) work through either.

  Background:
    Given the SQL:
      """
      create table go_on (ok boolean);
      """
    And the plan "widgets.yaml":
      """
      plan: widgets
      phases: [before, after]
      transitions:
        - name: add widgets
          from: before
          to: after
          steps:
            - name: create it
              sql: create table widgets (id int primary key)
              rollback: {sql: drop table widgets}
            - name: wait until told to go on
              timeout: 60s
              sql: |
                do $$
                begin
                  while not exists (select 1 from go_on) loop
                    perform pg_sleep(0.05);
                  end loop;
                end
                $$
            - name: seed it
              sql: insert into widgets values (1), (2)
      """

  Scenario: Through a pooler in transaction mode, apply stops before writing anything
    Given the SQL:
      """
      insert into go_on values (true);
      """
    And the database is reached through PgBouncer in transaction mode
    When I run "migrator apply widgets.yaml --to after"
    Then the exit code is 2
    And the output contains "the connection goes through a pooler in transaction mode"
    And the output contains "use a direct connection or a pooler in session mode"
    And the output contains "Supabase: port 5432 instead of 6543"
    And the database has no schema "migrator"
    And the query "select to_regclass('widgets') is null" returns "True"
    When I run "migrator status widgets.yaml"
    Then the exit code is 0
    And the output contains "phase: before"

  Scenario: Through a pooler in session mode, a plan applies and rolls back
    Given the SQL:
      """
      insert into go_on values (true);
      """
    And the database is reached through PgBouncer in session mode
    When I run "migrator apply widgets.yaml --to after"
    Then the exit code is 0
    And the plan "widgets" is in phase "after"
    And the query "select count(*) from widgets" returns "2"
    When I run "migrator rollback widgets.yaml"
    Then the exit code is 0
    And the plan "widgets" is in phase "before"
    And the query "select to_regclass('widgets') is null" returns "True"

  Scenario: Through a pooler in session mode, a second operator is still turned away
    Given the database is reached through PgBouncer in session mode
    And "alice" is running "migrator apply widgets.yaml --to after" in another terminal
    When I run "migrator apply widgets.yaml --to after --operator bob"
    Then the exit code is 4
    And the output contains "plan widgets is locked: held by run 1 of alice on"
    Given the SQL:
      """
      insert into go_on values (true);
      """
    Then alice's run ends with exit code 0
    And the plan "widgets" is in phase "after"
