Feature: Strict validation gates CI on lint findings
  `validate --strict` fails (exit 2) on a warning too, so a pull request that adds a
  dangerous statement fails its check; `--output github` and `--output gitlab` put each
  finding on the pull request's lines, `--output json` gives each its rule.

  Background:
    Given the plan "risky.yaml":
      """
      plan: risky
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: fill
              sql: update widgets set owner = 'ops, 100%'
              rollback: irreversible
          post_checks:
            - query: select count(*) from widgets where owner is null
              expect: 0
      """
    And the plan "clean.yaml":
      """
      plan: clean
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: fill
              sql: update widgets set owner = 'ops' where owner is null
              rollback: irreversible
          post_checks:
            - query: select count(*) from widgets where owner is null
              expect: 0
      """

  Scenario: A warning passes validate and fails validate --strict
    When I run "migrator validate risky.yaml"
    Then the exit code is 0
    When I run "migrator validate --strict risky.yaml"
    Then the exit code is 2
    And the output contains "risky.yaml (plan risky): INVALID (--strict: warnings fail), 0 error(s), 1 warning(s)"

  Scenario: A plan that lints clean passes validate --strict
    When I run "migrator validate --strict clean.yaml"
    Then the exit code is 0
    And the output contains "clean.yaml (plan clean): valid, 0 error(s), 0 warning(s)"

  Scenario: GitHub annotations put the finding on its line
    When I run "migrator validate --strict --output github risky.yaml"
    Then the exit code is 2
    And the output contains "::warning file=risky.yaml,line=9,col=14,title=whole-table-write::transitions[0].steps[0].sql: UPDATE with no WHERE writes every row of widgets"

  Scenario: A GitLab Code Quality report names the rule and the line
    When I run "migrator validate --output gitlab risky.yaml"
    Then the exit code is 0
    And the GitLab report has the issue "whole-table-write" at line 9 of "risky.yaml"

  Scenario: The JSON document gives each finding its rule
    When I run "migrator validate --output json risky.yaml"
    Then the output is a JSON document whose "valid" is "True"
    And the JSON problem at line 9 column 14 has the rule "whole-table-write"

  Scenario: A finding a step ignores with its reason does not fail --strict
    Given the plan "accepted.yaml":
      """
      plan: accepted
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: fill
              sql: update widgets set owner = 'ops'
              ignore:
                whole-table-write: widgets holds a dozen rows, and nothing writes them
              rollback: irreversible
          post_checks:
            - query: select count(*) from widgets where owner is null
              expect: 0
      """
    When I run "migrator validate --strict accepted.yaml"
    Then the exit code is 0
    And the output contains "accepted.yaml (plan accepted): valid, 0 error(s), 0 warning(s)"
