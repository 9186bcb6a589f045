@read_only
Feature: The runbook shows the danger next to the SQL
  The reviewer of a change reads the runbook: `migrator docs` puts each step's
  lint findings (rule, line, reason: what `validate` warns by migrator's own rules;
  squawk's, an optional program, only `validate` adds) beside its SQL, and
  with `--rehearsal FILE`, a `migrator rehearse PLAN --output json` document,
  what the step did on the rehearsal's scratch copy: "takes ACCESS EXCLUSIVE on
  public.profiles". A rehearsal of another version of the plan is refused: its
  locks would be those of SQL that has changed since.

  Background:
    Given the plan "profiles.yaml":
      """
      plan: profiles
      kind: hotfix
      steps:
        - name: an index on owners
          sql: create index concurrently profiles_owner_idx on profiles (owner)
          rollback: {sql: drop index profiles_owner_idx}
        - name: a wider owner
          sql: alter table profiles alter column owner type bigint
          rollback: {sql: alter table profiles alter column owner type int}
      """

  Scenario: Each step's lint findings are shown beside its SQL
    When I run "migrator docs profiles.yaml"
    Then the exit code is 0
    And the runbook shows every lint finding that "migrator validate profiles.yaml --output json --no-squawk" reports, beside its step

  Scenario: A rehearsal's locks and rewrites are shown beside each step's SQL
    Given a rehearsal of "profiles.yaml" saved as "rehearsal.json", in which step "a wider owner" took "AccessExclusiveLock" on "public.profiles" and rewrote "public.profiles"
    When I run "migrator docs profiles.yaml --rehearsal rehearsal.json"
    Then the exit code is 0
    And the output contains "**Rehearsed:** takes ACCESS EXCLUSIVE on public.profiles; rewrites public.profiles"

  Scenario: A rehearsal of another version of the plan is refused
    Given a rehearsal of "profiles.yaml" saved as "rehearsal.json", in which step "a wider owner" took "AccessExclusiveLock" on "public.profiles" and rewrote "public.profiles"
    And the plan "profiles.yaml" is edited: "type bigint" becomes "type numeric"
    When I run "migrator docs profiles.yaml --rehearsal rehearsal.json"
    Then the exit code is 2
    And the output contains "rehearsed another version of profiles.yaml (the plan's checksum differs)"
