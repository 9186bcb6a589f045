Feature: Rehearsing a plan as a gate in CI
  `migrator rehearse` exits 0 when every reversible part of a plan comes back as it
  was, so a pipeline can run it on every change. A step marked
  `rollback: irreversible` cannot be taken back by design: its transition goes
  forward only on the copy and is reported as such, not as a failed round trip. A
  check that needs rows has none on a copy of the schema: `--sample-sql` loads
  sample rows of your own, never production's.

  Background:
    Given scratch copies are made on the test server
    And the SQL:
      """
      create table accounts (id serial primary key, legacy_name text, name text);
      """

  Scenario: A step irreversible by design is said, and the rehearsal passes
    Given the plan "names.yaml":
      """
      plan: names
      phases: [v1, v2, v3]
      transitions:
        - name: expand
          from: v1
          to: v2
          steps:
            - name: a name index
              sql: create index accounts_name_idx on accounts (name)
              rollback: {sql: drop index accounts_name_idx}
        - name: contract
          from: v2
          to: v3
          steps:
            - name: drop the legacy column
              sql: alter table accounts drop column legacy_name
              rollback: irreversible
      """
    When I run "migrator rehearse names.yaml"
    Then the exit code is 0
    And the output contains "expand (v1 -> v2): forward, back by undoing its steps, forward again: clean"
    And the output contains "contract (v2 -> v3): forward: irreversible by design, not taken back ('drop the legacy column' marked `rollback: irreversible`)"
    And the output contains "clean, every reversible transition rehearsed came back as it was (2 round trips; not taken back, irreversible by design: contract)"
    And the query "select count(*) from information_schema.columns where column_name = 'legacy_name'" returns "1"

  Scenario: Sample rows of your own let a check that needs rows run on the copy
    Given the plan "fill.yaml":
      """
      plan: fill
      phases: [a, b]
      transitions:
        - name: fill
          from: a
          to: b
          pre_checks:
            - {name: accounts to fill, query: select count(*) from accounts where name is null, expect: "> 0"}
          steps:
            - name: names from the legacy ones
              sql: update accounts set name = legacy_name where name is null
              rollback: {sql: update accounts set name = null}
      """
    And the plan "rows.sql":
      """
      insert into accounts (legacy_name) values ('ada'), ('grace');
      """
    When I run "migrator rehearse fill.yaml --sample-sql rows.sql"
    Then the exit code is 0
    And the output contains "then loaded the sample rows of rows.sql"
    And the output does not contain "did not pass on the copy"
    And the query "select count(*) from accounts" returns "0"

  Scenario: A sample file that cannot be read is refused before anything is made
    Given the plan "fill.yaml":
      """
      plan: fill
      kind: hotfix
      steps:
        - sql: update accounts set name = legacy_name where name is null
          rollback: {sql: update accounts set name = null}
      """
    When I run "migrator rehearse fill.yaml --sample-sql missing.sql"
    Then the exit code is 2
    And the output contains "--sample-sql 'missing.sql': cannot read it (No such file or directory)"
    And no scratch database was made
