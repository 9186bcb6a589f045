Feature: A rollback says what it cannot undo
  `migrator rollback` takes the last completed transition back. A step marked
  `rollback: irreversible` has no way back: the rollback refuses to pass it, and
  names it, rather than move the plan back to a phase whose data is gone. With
  `--force` it goes on, and the audit trail records that step as not undone.
  `rollback --dry-run` shows each undo with its SQL beforehand and changes
  nothing.

  Background:
    Given the SQL:
      """
      create table legacy (id int, old text);
      insert into legacy values (1, 'kept until the cleanup');
      create table notes (step text);
      """
    And the plan "cleanup.yaml":
      """
      plan: cleanup
      kind: hotfix
      steps:
        - name: note it
          sql: insert into notes values ('cleaned')
          rollback: {sql: "delete from notes where step = 'cleaned'"}
        - name: drop the old column
          sql: alter table legacy drop column old
          rollback: irreversible
      """
    And I ran "migrator apply cleanup.yaml"

  Scenario: A rollback that would pass an irreversible step refuses, naming it
    When I run "migrator rollback cleanup.yaml"
    Then the exit code is 2
    And the output contains "would pass step 'drop the old column', marked `rollback: irreversible`"
    And the output contains "Nothing was changed"
    And the plan "cleanup" is in phase "applied"
    And the runs of plan "cleanup" are "apply succeeded"
    And the query "select count(*) from notes" returns "1"

  Scenario: --force goes on, and the audit trail records the step not undone
    When I run "migrator rollback cleanup.yaml --force --operator erin"
    Then the exit code is 0
    And the output contains "undo drop the old column (undo:sql): not_undone"
    And the plan "cleanup" is in phase "pending"
    And the query "select count(*) from notes" returns "0"
    And the query "select count(*) from information_schema.columns where table_name = 'legacy' and column_name = 'old'" returns "0"
    And the query "select status || ' by ' || (detail->>'operator') from migrator.events where step = 'undo drop the old column' and status <> 'started'" returns "not_undone by erin"

  Scenario: The dry run shows each undo with its SQL, and changes nothing
    When I run "migrator rollback cleanup.yaml --dry-run"
    Then the exit code is 0
    And the output contains "delete from notes where step = 'cleaned'"
    And the output contains "undo drop the old column: CANNOT BE UNDONE (rollback: irreversible)"
    And the output contains "rollback refuses to pass 'drop the old column' (exit 2)"
    And the plan "cleanup" is in phase "applied"
    And the runs of plan "cleanup" are "apply succeeded"
    And the query "select count(*) from notes" returns "1"
