@slow
Feature: The demo tells both incidents on the embedded PostgreSQL
  `migrator demo` builds a scoring database in the IR-07 broken state (profiles with
  row level security on and no policy), starts the scoring app with users finishing
  assessments, and runs the shipped plans as an incident team would: the RLS audit,
  IR-07, IR-08, the scoring-results phases with a cutover that fails and is undone,
  and the way back to dual write. Every step is a migrator command, shown with its
  output. It runs from any folder: the plans travel inside the package. With --keep
  the scoring app stays up afterwards, its users still scoring, for exploring.

  Scenario: The whole story, and nothing lost on the way back
    When I run the demo with 300 sessions and --keep from an empty folder
    Then the exit code is 0
    And the output contains "violates row-level security policy for table "profiles""
    And the output contains "rls_without_policy"
    And the output contains "public.profiles"
    And the output contains "run undone: a post-check failed"
    And the output does not contain "Traceback"
    And in the demo database the plans are "ir-07-profiles-rls-hotfix applied, ir-08-backfill-profiles applied, scoring-results-unification dual_write"
    And in the demo database the runs of "scoring-results-unification" are "enable_dual_write succeeded, cutover undone, cutover succeeded, back_to_dual_write succeeded"
    And in the demo database every session scored while unified-only has complete legacy rows
    And in the demo database every completed session has a profile
    And the scoring app the demo kept still answers, and its users keep scoring
