Feature: A step silences a lint rule it has a reason to break
  `ignore` on a step names the rules it silences, with the reason a reviewer reads next
  to the SQL; the step's other findings, and the other steps', stay. A rule about a
  transition as a whole (no-post-checks) is silenced by the transition's own `ignore`.

  Background:
    Given the plan "empty.yaml":
      """
      plan: empty
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: empty the new table
              sql: |
                delete from scratch_rows;
                set search_path to other;
              ignore:
                whole-table-write: the table is new in this transition; nothing reads it yet
              rollback: irreversible
            - name: and the other one
              sql: delete from other_rows
              ignore: [whole-table-writes]
              rollback: irreversible
      """

  Scenario: The rule an ignore names is silenced in that step only
    When I run "migrator validate empty.yaml"
    Then the exit code is 0
    And the output does not contain "empty.yaml:10:11"
    And the output contains "empty.yaml:11:11: transitions[0].steps[0].sql: warning: `set search_path to other` changes nothing"
    And the output contains "empty.yaml:16:14: transitions[0].steps[1].sql: warning: DELETE with no WHERE writes every row of other_rows"

  Scenario: An ignore naming no rule is a warning of its own
    When I run "migrator validate empty.yaml"
    Then the output contains "empty.yaml:17:18: transitions[0].steps[1].ignore[0]: warning: ignore names no lint rule 'whole-table-writes' (did you mean 'whole-table-write'? the rules are listed in docs/lint.md)"

  Scenario: A transition silences a rule about itself; a step naming it is told where it goes
    Given the plan "checked.yaml":
      """
      plan: checked
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          ignore:
            no-post-checks: the next release's smoke test reads the new column
          steps:
            - sql: alter table t add column c text
              rollback: {sql: alter table t drop column c}
              ignore: [no-post-checks]
      """
    When I run "migrator validate checked.yaml"
    Then the exit code is 0
    And the output does not contain "[no-post-checks]"
    And the output contains "checked.yaml:12:18: transitions[0].steps[0].ignore[0]: warning: no-post-checks is about the transition as a whole: a step's ignore does not silence it; put it in the transition's `ignore` (transitions[0].ignore)"
