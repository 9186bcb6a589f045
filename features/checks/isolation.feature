Feature: A check cannot change the database
  A check looks; it never changes anything. It runs on a connection of its own, in one
  transaction that is READ ONLY and always rolled back, as the role the run connected as.
  `migrator validate` refuses check SQL that could leave that transaction or that role
  (COMMIT, END, a DO block, SET ROLE, COPY, session advisory locks...), with the file,
  line and field; and while a check runs, every statement it sends is held to the same
  rules and followed by a look at the session: a check whose transaction ended, or whose
  role or read-only mode changed, fails, and the run is undone as for any failed check.

  Background:
    Given the SQL:
      """
      create table accounts (id int primary key, owner text);
      insert into accounts values (1, 'ann'), (2, 'bob');
      do $$ begin create role probe_reader nologin;
        exception when duplicate_object then null; end $$;
      grant select on accounts to probe_reader;
      alter table accounts enable row level security;
      create policy own on accounts for select to probe_reader
        using (owner = current_setting('request.jwt.claim.sub', true));
      create function become_owner() returns int language plpgsql as $$
        begin perform set_config('role', 'postgres', false); return 1; end $$;
      grant execute on function become_owner() to probe_reader;
      """

  Scenario: A check that commits is refused before anything runs
    Given the plan "commits.yaml":
      """
      plan: commits
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: sneaky
              query: select 0; commit; drop table accounts; commit; select 0
              expect: 0
          steps: [{sql: select 1}]
      """
    When I run "migrator plan commits.yaml --to after"
    Then the exit code is 2
    And the output contains "commits.yaml:9:16: transitions[0].pre_checks[0].query: check 'sneaky' may not send this SQL: statement 2: COMMIT controls the transaction"
    And the query "select count(*) from accounts" returns "2"
    And the database has no schema "migrator"

  Scenario: A check that changes its role while it runs fails, and the run is undone
    The function the check calls is in the database, out of sight of `validate`: the
    check is stopped after the statement that changed the role.

    Given the plan "role.yaml":
      """
      plan: role
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - {name: mark, sql: create table marked (x int), rollback: {sql: drop table marked}}
          post_checks:
            - name: as the reader
              rls_probe: {as_role: probe_reader, claims: {sub: ann}, sql: select become_owner()}
              expect: allowed
      """
    When I run "migrator apply role.yaml --to after"
    Then the exit code is 1
    And the output contains "the check was stopped: a statement changed the role from probe_reader to postgres"
    And the output contains "run undone: a post-check failed"
    And the query "select to_regclass('marked') is null" returns "True"

  Scenario: A dry run changes nothing, whatever its checks do
    Given the plan "dry.yaml":
      """
      plan: dry
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - {name: escapes, query: select become_owner(), expect: 1}
            - name: writes
              rls_probe: {as_role: probe_reader, sql: "delete from accounts"}
              expect: denied
          steps: [{sql: drop table accounts}]
      """
    When I run "migrator plan dry.yaml --to after"
    Then the exit code is 0
    And the output contains "warning: connected as superuser postgres"
    And the output contains "pre-check writes: FAILS today"
    And the output contains "not probed: a dry run is read-only and this writes"
    And the query "select count(*) from accounts" returns "2"
    And the database has no schema "migrator"

  Scenario: A probe that RLS filters to zero rows is denied
    Given the plan "probe.yaml":
      """
      plan: probe
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          pre_checks:
            - name: ann sees her account
              rls_probe: {as_role: probe_reader, claims: {sub: ann}, sql: select * from accounts}
              expect: allowed
            - name: a stranger sees nothing
              rls_probe: {as_role: probe_reader, claims: {sub: eve}, sql: select * from accounts}
              expect: denied
          steps: [{sql: select 1}]
      """
    When I run "migrator apply probe.yaml --to after"
    Then the exit code is 0
    And the output contains "pre-check a stranger sees nothing: passed (actual denied, expected denied)"
    And the output contains "RLS filtered the rows of statement 1: 0 row(s), allowed needs >= 1"
