Feature: Validate names the DDL that locks, rewrites or breaks clients
  A release engineer reviewing a plan learns, before it reaches production, which
  statement would block a busy table, rewrite it, or break the clients still using it:
  at the statement's line and column in the plan, with the rule's id (squawk's where
  squawk has the rule), the reason and the safe way. These are warnings: the plan stays
  valid and validate exits 0.

  Scenario: An index built without CONCURRENTLY is found at its line and column
    Given the plan "index.yaml":
      """
      plan: index-events
      kind: hotfix
      steps:
        - name: index the events
          rollback: irreversible
          sql: |
            select 1;
            create index events_kind on public.events (kind);
      """
    When I run "migrator validate index.yaml"
    Then the exit code is 0
    And the output contains "index.yaml:8:7: steps[0].sql: warning: CREATE INDEX without CONCURRENTLY takes a SHARE lock on public.events: writes wait until the build ends; safe way: build it with CREATE INDEX CONCURRENTLY in a step with `autocommit: true`; on a partitioned table, CREATE INDEX ON ONLY the parent, then CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION each [require-concurrent-index-creation]"

  Scenario: The safe way is not found: built concurrently, or on a table the step creates
    Given the plan "index.yaml":
      """
      plan: index-events
      kind: hotfix
      steps:
        - name: index the events, online
          rollback: irreversible
          autocommit: true
          sql: create index concurrently if not exists events_kind on public.events (kind)
        - name: a new table with its index
          sql: |
            create table audit_log (id bigint, at timestamptz);
            create index audit_log_at on audit_log (at);
          rollback:
            sql: drop table audit_log
      """
    When I run "migrator validate index.yaml"
    Then the exit code is 0
    And the output does not contain "require-concurrent-index-creation"
    And the output does not contain "ban-drop-table"

  Scenario: Each action of one ALTER TABLE is found at its own clause
    Given the plan "widen.yaml":
      """
      plan: widen
      kind: hotfix
      steps:
        - name: wider ids, a token, a rule
          rollback: irreversible
          sql: alter table events alter column id type bigint, add column token uuid default gen_random_uuid(), add constraint events_kind check (kind <> '')
      """
    When I run "migrator validate widen.yaml"
    Then the exit code is 0
    And the output contains "widen.yaml:6:45: steps[0].sql: warning: changing the type of events.id rewrites the table and its indexes under ACCESS EXCLUSIVE"
    And the output contains "widen.yaml:6:88: steps[0].sql: warning: ADD COLUMN token rewrites events under ACCESS EXCLUSIVE: its default calls gen_random_uuid(), volatile, for every row"
    And the output contains "widen.yaml:6:107: steps[0].sql: warning: ADD CHECK without NOT VALID scans all of events while holding ACCESS EXCLUSIVE on it"

  Scenario: A column dropped in a contract step is found; its reason in an ignore silences it
    Given the plan "contract.yaml":
      """
      plan: contract
      kind: hotfix
      steps:
        - name: the old flag goes
          rollback: irreversible
          sql: alter table profiles drop column legacy_flag
        - name: so does the old name
          rollback: irreversible
          sql: alter table profiles drop column legacy_name
          ignore: {ban-drop-column: "no release since 2.4 reads legacy_name"}
      """
    When I run "migrator validate contract.yaml"
    Then the exit code is 0
    And the output contains "contract.yaml:6:31: steps[0].sql: warning: DROP COLUMN legacy_flag breaks the clients of profiles still using it"
    And the output does not contain "legacy_name breaks"

  Scenario: The undo that drops what its own step created is not a client-breaking drop
    Given the plan "region.yaml":
      """
      plan: region
      kind: hotfix
      steps:
        - name: a region for each profile
          sql: alter table profiles add column region text
          rollback:
            sql: alter table profiles drop column region
      """
    When I run "migrator validate region.yaml"
    Then the exit code is 0
    And the output does not contain "ban-drop-column"
