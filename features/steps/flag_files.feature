Feature: Flags kept in the application's file
  A flag may live in a JSON or YAML file the application reads (`store: file:PATH`).
  Reading a flag never writes: no lock file and no folder are made, so `flag_is`
  works on a read-only mount and `migrator plan` leaves the folder as it found it.
  Writing replaces the file atomically; a flag file that is a symlink (as a deploy
  tool or a config map makes them) stays one, and the file it points to is replaced,
  keeping its mode and its owner, so the application can still read it.

  Scenario: A flag is read from a read-only folder, and nothing there is written
    Given the file "app/flags.json":
      """
      {"READ_UNIFIED": true}
      """
    And the folder "app" is read-only
    And the plan "look.yaml":
      """
      plan: look
      kind: hotfix
      pre_checks:
        - name: the application reads the unified table
          flag_is: {name: READ_UNIFIED, value: true, store: "file:app/flags.json"}
      steps:
        - sql: select 1
      post_checks:
        - name: it still does
          flag_is: {name: READ_UNIFIED, value: true, store: "file:app/flags.json"}
      """
    When I run "migrator plan look.yaml"
    Then the exit code is 0
    And the output contains "pre-check the application reads the unified table: passes today"
    And nothing in the folder "app" was created or changed
    When I run "migrator apply look.yaml"
    Then the exit code is 0
    And the output contains "post-check it still does: passed"
    And nothing in the folder "app" was created or changed

  Scenario: A symlinked flag file stays a symlink, and its target keeps its mode and owner
    Given the file "shared/flags.json":
      """
      {"WRITE_EXPLODED": true}
      """
    And the file "shared/flags.json" belongs to user 1234 and has mode 0640
    And "app/flags.json" is a symlink to "../shared/flags.json"
    And the plan "flip.yaml":
      """
      plan: flip
      kind: hotfix
      steps:
        - name: stop exploded writes
          flag: {name: WRITE_EXPLODED, value: false, store: "file:app/flags.json"}
      post_checks:
        - flag_is: {name: WRITE_EXPLODED, value: false, store: "file:app/flags.json"}
      """
    When I run "migrator apply flip.yaml"
    Then the exit code is 0
    And "app/flags.json" is still a symlink to "../shared/flags.json"
    And the file "shared/flags.json" holds the flags "WRITE_EXPLODED=false"
    And the file "shared/flags.json" still belongs to its owner and has mode 0640
    When I run "migrator rollback flip.yaml"
    Then the exit code is 0
    And "app/flags.json" is still a symlink to "../shared/flags.json"
    And the file "shared/flags.json" holds the flags it held before
    And the file "shared/flags.json" still belongs to its owner and has mode 0640
