@read_only
Feature: Finding row level security holes before they become incidents
  `migrator audit rls` reads the catalog and reports tables with row level
  security on and no policy at all (IR-07's cause: every write by an API role is
  refused) as errors, and allow-everything policies and exposed tables without
  row level security as warnings. A pipeline fails only on errors.

  Background:
    Given a Supabase-like database where profiles has row level security and no policy

  @ir07
  Scenario: IR-07's hole is found
    When I run "migrator audit rls"
    Then the exit code is 1
    And the output contains "rls_without_policy"
    And the output contains "public.profiles"

  @ir07
  Scenario: After the fix, the audit is clean
    Given the SQL:
      """
      create policy "Service role can manage profiles" on public.profiles for all to public
        using (auth.role() = 'service_role') with check (auth.role() = 'service_role');
      """
    When I run "migrator audit rls"
    Then the exit code is 0
    And the output does not contain "rls_without_policy"

  Scenario: The findings fit the terminal, each detail wrapped in its column
    Given the SQL:
      """
      create policy "Allow every signed-in user to read and write every profile"
        on public.profiles for all to authenticated using (true) with check (true);
      create table public.assessment_answers_of_every_session_ever_started (id int);
      grant select, insert, update, delete
        on public.assessment_answers_of_every_session_ever_started to anon, authenticated;
      """
    And the environment variable "COLUMNS" is "80"
    When I run "migrator audit rls"
    Then the exit code is 0
    And no line it printed on stdout is wider than 80 columns
    And the output contains "policy Allow every signed-in user"
    And the output contains "roles authenticated"
    And the output contains "2 findings: 0 errors, 2 warnings"

  Scenario: A policy that lets everyone through is a warning
    Given the SQL:
      """
      create policy "anyone" on public.profiles for all to anon using (true) with check (true);
      """
    When I run "migrator audit rls --output json"
    Then the exit code is 0
    And the output contains "allow_all_policy"

  Scenario: An unknown schema is bad usage
    When I run "migrator audit rls --schema nowhere"
    Then the exit code is 2
    And the output contains "no such schema: nowhere"
