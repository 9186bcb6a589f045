@read_only
Feature: What the installed plugins provide
  Every action and check comes from a plugin, registered like any third-party
  `pip install migrator-something`. `migrator plugins` lists what is loaded and
  the keys each plugin provides; `migrator schema` is the JSON Schema of the plan
  format those keys make, for editors and CI linters.

  Scenario: The built-in plugins and their keys
    When I run "migrator plugins"
    Then the exit code is 0
    And the output contains "sql (migrator "
    And the output contains "actions: sql"
    And the output contains "checks:  query"
    And the output contains "actions: policy, rls"
    And the output contains "checks:  policy_exists, rls_probe"
    And the output contains "actions: backfill"

  Scenario: The plugin list as JSON
    When I run "migrator plugins --output json"
    Then the exit code is 0
    And the output is a JSON document whose "plugins.0.name" is "backfill"

  Scenario: The plan format as a JSON Schema
    When I run "migrator schema"
    Then the exit code is 0
    And the output is a JSON document whose "title" is "migrator plan"
    And the output contains ""backfill""
    And the output contains ""rls_probe""
