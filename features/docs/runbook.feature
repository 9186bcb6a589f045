@read_only
Feature: A plan is its own runbook
  `migrator docs PLAN` renders a plan as a runbook a release engineer can follow
  and an incident team can review: the summary, the phases, each transition's
  risk and approval, the pre-checks with their SQL and expected values, the steps
  with their SQL and how each is undone, the rollback plan in reverse order, and
  the post-checks as success criteria. It needs no database.

  Background:
    Given the plan "cutover.yaml":
      """
      plan: cutover
      description: Stop writing the exploded scoring tables
      vars: {status: completed}
      phases: [dual_write, unified_only]
      transitions:
        - name: cutover
          from: dual_write
          to: unified_only
          risk: medium
          approval: true
          pre_checks:
            - name: every completed session has a unified row
              query: select count(*) from sessions s where s.status = :status and not s.unified
              expect: 0
          steps:
            - name: mark sessions unified only
              sql: update sessions set mode = 'unified' where status = :status
              rollback: {sql: "update sessions set mode = 'dual' where status = :status"}
            - name: stop writing the exploded tables
              flag: {name: WRITE_EXPLODED, value: false}
          post_checks:
            - name: conversion stays up
              query: select count(*) from sessions where status = :status
              expect: "> 0"
              soak: {duration: 1h, interval: 1m, failure_limit: 2}
      """

  Scenario: The runbook shows each check and step with its SQL, and how it is undone
    When I run "migrator docs cutover.yaml"
    Then the exit code is 0
    And the output contains "## 1. cutover: dual\_write → unified\_only"
    And the output contains "**Risk:** medium · **Approval:** required"
    And the output contains "**1. every completed session has a unified row** (`query`; expect `0`; on failure: abort)"
    And the output contains "update sessions set mode = 'unified' where status = :status"
    And the output contains "Undone by: default undo of flag: Put back exactly what was there"
    And the output contains "soak: checked every 1m for 1h, at most 2 failed sample(s)"
    And the output does not contain "status = 'completed'"

  Scenario: The rollback plan undoes the steps in reverse order
    When I run "migrator docs cutover.yaml"
    Then the output contains "1. stop writing the exploded tables: default undo of flag"
    And the output contains "2. mark sessions unified only: its rollback `update sessions set mode = 'dual' where status = :status`"

  Scenario: The phases as a diagram inside the runbook
    When I run "migrator docs cutover.yaml"
    Then the output contains "```mermaid"
    And the output contains "dual_write --> unified_only: cutover (risk medium, needs approval)"

  Scenario: A standalone web page of the runbook, which works offline
    The page is one file that needs nothing else: its phase diagram is an SVG drawn
    into it when it is made, it has no script and fetches nothing, it fits a phone's
    screen, and printed, its SQL wraps instead of being cut.
    When I run "migrator docs cutover.yaml --output html"
    Then the exit code is 0
    And the output contains "<!DOCTYPE html>"
    And the output contains "<h2>1. cutover: dual_write → unified_only</h2>"
    And the page draws the phases "dual_write, unified_only" and the transitions "cutover"
    And the page has no script and fetches nothing from the network
    And the output contains "<meta name="viewport" content="width=device-width, initial-scale=1">"
    And the output contains "white-space: pre-wrap"

  Scenario: Plan prose is shown as it is written, whatever Markdown it holds
    A description is text, never markup: a fence of backticks or tildes cannot swallow
    the rest of the runbook nor add a second diagram, a numbered line is no list, an
    underline makes no heading, and HTML is shown, not run.
    Given the plan "prose.yaml":
      """
      plan: prose
      description: "Read this.\n~~~\n1. not a list\nNot a heading\n===\n<b>not bold</b>"
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          description: "~~~phase-diagram\n~~~"
          steps:
            - name: nothing
              sql: select 1
              rollback: {sql: select 1}
      """
    When I run "migrator docs prose.yaml --output html"
    Then the exit code is 0
    And the page draws 1 phase diagram
    And the output contains "<h2>1. go: before → after</h2>"
    And the output contains "~~~phase-diagram"
    And the output contains "&lt;b&gt;not bold&lt;/b&gt;"
    And the output does not contain "<li>not a list</li>"
    And the output does not contain "<h1>Not a heading</h1>"

  Scenario: On a terminal the runbook is rendered to fit it
    A terminal draws no Mermaid: there the phases and transitions are lines of text.
    When I run "migrator docs cutover.yaml" on a terminal 80 columns wide
    Then the exit code is 0
    And the output contains "dual_write → unified_only: cutover (risk medium, needs approval)"
    And the output does not contain "stateDiagram"
    And the output contains "1. cutover: dual_write → unified_only"
    And the output contains "update sessions set mode = 'unified' where status = :status"
    And the output is rendered, not Markdown source
    And no line is wider than 80 columns

  Scenario: The runbooks of several plans are written to a folder
    Given the plan "fix.yaml":
      """
      plan: fix
      kind: hotfix
      steps:
        - {name: flag on, flag: {name: FIXED, value: true}}
      """
    When I run "migrator docs cutover.yaml fix.yaml --out site"
    Then the exit code is 0
    And the output contains "wrote site/cutover.md"
    And the output contains "wrote site/cutover.mmd"
    And the output contains "wrote site/fix.md"

  Scenario: A bad plan gets no runbook, and is told where it is wrong
    Given the plan "typo.yaml":
      """
      plan: typo
      phases: [before, after]
      transitions:
        - {name: go, from: before, to: after, risk: extreme}
      """
    When I run "migrator docs typo.yaml"
    Then the exit code is 2
    And the output contains "typo.yaml:4:47: transitions[0].risk: must be 'low', 'medium' or 'high'"
