Feature: A reviewer reads the migration on the pull request
  A change to a plan is reviewed on its pull request. `migrator plan PLAN --to PHASE
  --output markdown` is the dry run as a comment: the path of transitions, each
  transition's risk and approval, the pre-checks as they stand today (evaluated
  read-only), each step's exact SQL with its lint findings and its undo, and with
  `--rehearsal FILE` (a `migrator rehearse --output json` document) the rehearsal's
  verdict (passed, or failed and why) and the locks and rewrites each step took on the
  rehearsal's scratch copy. Its first line is a marker
  by which a CI job finds the comment it posted and edits it (docs/ci.md).

  Background:
    Given the SQL:
      """
      create table profiles (id int primary key, owner int);
      insert into profiles values (1, 10), (2, null);
      """
    And the plan "owners.yaml":
      """
      plan: owners
      phases: [before, after]
      transitions:
        - name: widen
          from: before
          to: after
          risk: high
          approval: true
          pre_checks:
            - name: no owner is missing
              query: select count(*) from profiles where owner is null
              expect: 0
          steps:
            - name: a wider owner
              sql: alter table profiles alter column owner type bigint
              rollback: {sql: alter table profiles alter column owner type int}
            - name: an index on owners
              sql: create index profiles_owner_idx on profiles (owner)
              rollback: {sql: drop index profiles_owner_idx}
          post_checks:
            - name: still there
              query: select count(*) from profiles
              expect: ">= 1"
      """

  Scenario: The comment shows the path, the SQL, the lint findings, today's pre-checks and the rehearsal's locks
    Given a rehearsal of "owners.yaml" saved as "rehearsal.json"
    When I run "migrator plan owners.yaml --to after --output markdown --rehearsal rehearsal.json"
    Then the exit code is 0
    And the comment's first line is "<!-- migrator-plan: owners -->"
    And the output contains "**Path:** `before` → `after`"
    And the output contains "**Risk:** high · **Approval:** **required**"
    And the output contains "| ❌ **fails** | no owner is missing | `1` | `0` |"
    And the comment shows step "a wider owner" with the SQL "alter table profiles alter column owner type bigint"
    And the comment shows every lint finding that "migrator validate owners.yaml --output json --no-squawk" reports, at its file, line and column
    And the comment shows step "a wider owner" rehearsed: it "takes ACCESS EXCLUSIVE on public.profiles" and "rewrites public.profiles"
    And the output does not contain the database's password

  Scenario: Without a rehearsal the comment still shows the plan, and nothing is changed
    When I run "migrator plan owners.yaml --to after --output markdown"
    Then the exit code is 0
    And the comment's first line is "<!-- migrator-plan: owners -->"
    And the output does not contain "**Rehearsed:**"
    And the database has no schema "migrator"

  Scenario: A rehearsal that failed is said to have failed, with what its undo did not restore
    Given the plan "colour.yaml":
      """
      plan: colour
      kind: hotfix
      steps:
        - name: a colour
          sql: alter table profiles add column colour text
          rollback: {sql: select 1}
      """
    And a failed rehearsal of "colour.yaml" saved as "rehearsal.json"
    When I run "migrator plan colour.yaml --output markdown --rehearsal rehearsal.json"
    Then the exit code is 0
    And the output contains "**Rehearsal:** ❌ **failed**"
    And the output contains "its undo does not restore what it changed: column public.profiles.colour is there and was not before"
    And the output does not contain "✅ passed"
