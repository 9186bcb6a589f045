Feature: Fleet rollback takes back exactly what the rollout moved
  `migrator fleet rollback FLEET PLAN` takes the targets the plan's latest rollout moved
  back to the phase it found each in, last wave first. What to take back is read from
  each target itself: its runs made by the rollout's commands (the ledger records their
  pids), so a rollout whose `fleet apply` was killed is taken back all the same. A target
  the rollout did not move is never touched. A target someone moved since the rollout
  is left as it is and reported (it counts as exit 1), by every rollback after too. Once
  every moved target is back, a second rollback has nothing to do. An undo that fails on
  one target needs a person (exit 3); whether the others are still taken back is the
  wave's `max_failures`.

  Background:
    Given the fleet of targets "internal" in group canary, "acme" and "globex"
    And the fleet's plan "shop.yaml"

  Scenario: Only the moved targets are taken back, the canary last
    Given the fleet's last rollout moved "internal, acme"
    And "migrator apply shop.yaml --to expanded" was run by hand on target "globex"
    When I run "migrator fleet rollback fleet.yaml shop.yaml"
    Then the exit code is 0
    And the fleet's targets "internal, acme" are in phase "initial"
    And the fleet's target "globex" is in phase "expanded", its runs untouched
    And the output shows "acme" taken back before "internal"

  Scenario: A target moved since the rollout is left as it is
    Given the fleet's last rollout moved "internal, acme"
    And "migrator rollback shop.yaml" was run by hand on target "acme"
    And "migrator apply shop.yaml --to expanded" was run by hand on target "acme"
    When I run "migrator fleet rollback fleet.yaml shop.yaml"
    Then the exit code is 1
    And the output contains "acme (wave rest): moved since"
    And the fleet's target "acme" is in phase "expanded", its runs untouched
    And the fleet's targets "internal" are in phase "initial"

  Scenario: A rollout whose fleet apply was killed is taken back all the same
    Given the fleet's last rollout moved "internal, acme"
    And its fleet apply was killed while the command of target "acme" ran
    When I run "migrator fleet rollback fleet.yaml shop.yaml"
    Then the exit code is 0
    And the fleet's targets "internal, acme" are in phase "initial"
    And the output does not contain "nothing to take back"

  Scenario: A target left moved since is named by the next rollback too
    Given the fleet's last rollout moved "internal, acme"
    And "migrator rollback shop.yaml" was run by hand on target "acme"
    And "migrator apply shop.yaml --to expanded" was run by hand on target "acme"
    And the fleet was rolled back once, leaving a target moved since
    When I run "migrator fleet rollback fleet.yaml shop.yaml"
    Then the exit code is 1
    And the output contains "acme (wave rest): moved since"
    And the output does not contain "moved no target"
    And the fleet's target "acme" is in phase "expanded", its runs untouched

  Scenario: A second rollback has nothing to do
    Given the fleet's last rollout moved "internal, acme"
    And the fleet was rolled back once
    When I run "migrator fleet rollback fleet.yaml shop.yaml"
    Then the exit code is 0
    And the output contains "was rolled back already: nothing to take back"
    And the fleet's target "acme" is in phase "initial", its runs untouched

  Scenario: An undo that fails on one target needs a person
    Given the fleet's last rollout moved "internal, acme, globex"
    And the table "extra" was dropped on target "acme"
    When I run "migrator fleet rollback fleet.yaml shop.yaml"
    Then the exit code is 3
    And the output contains "acme (wave rest): rollback failed"
    And the output contains "on target acme settles it"
    And the fleet's targets "globex" are in phase "initial"
    And the fleet's targets "acme, internal" are in phase "expanded"
