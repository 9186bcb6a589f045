Feature: Fleet status reads every target itself
  `migrator fleet status FLEET PLAN` reads each target's own `migrator` schema, read
  only, many targets at a time, each within the fleet file's `timeout`: its phase, its
  last run, a run left open. Beside it, what the plan's latest rollout in the ledger did
  to the target. A target that cannot be read is marked unreachable (or "no permission"
  when it refuses the role) with its reason and the others are shown all the same (exit
  5); a target the latest rollout moved that the fleet file no longer names is listed
  from the ledger as "not in the fleet file any more". The ledger is only read: status
  runs beside a `fleet apply` under way. A DSN is never printed, and what a target or
  the ledger holds is shown as text (escape sequences made visible, never markup).

  Background:
    Given the fleet of targets "internal" in group canary, "acme" and "globex"
    And the fleet's plan "shop.yaml"

  Scenario: Each target's phase and what the latest rollout did to it
    Given the fleet's last rollout moved "internal, acme"
    When I run "migrator fleet status fleet.yaml shop.yaml"
    Then the exit code is 0
    And the output contains "2 in phase expanded, 1 in phase initial"
    And the output contains "latest rollout"
    And the output contains "+00:00"
    And no DSN of the fleet is in the output

  Scenario: A target that does not answer is marked, and the others are read
    Given the fleet's target "mute" is a server that accepts connections and never answers
    When I run "migrator fleet status fleet.yaml shop.yaml --output json"
    Then the exit code is 5
    And the output is a JSON document whose "targets.3.name" is "mute"
    And the output is a JSON document whose "targets.3.reachable" is "False"
    And the output is a JSON document whose "targets.0.phase" is "initial"
    And the output is a JSON document whose "targets.2.reachable" is "True"

  Scenario: A run left open is named with the command that settles it on its target
    Given the fleet's last rollout moved "acme"
    And the run on target "acme" was left interrupted
    When I run "migrator fleet status fleet.yaml shop.yaml"
    Then the exit code is 0
    And the output contains "target acme: run 1 (expand) is interrupted"
    And the output contains "`migrator resume shop.yaml` on"
    And no DSN of the fleet is in the output

  Scenario: The dry run of every target shows what would fail today, and changes nothing
    `migrator fleet plan` runs `migrator plan` on each target, wave by wave: where it is,
    the transitions it would take, the pre-checks that would fail today. Nothing is tried
    again, and a target whose dry run takes longer than --timeout (default the fleet's
    timeout, at least 60 s) is stopped and reported as exit 5; Ctrl-C stops them all.
    Given the table "orders" was made on targets "internal, acme"
    When I run "migrator fleet plan fleet.yaml shop.yaml --to expanded"
    Then the exit code is 0
    And the output contains "internal: initial -> expanded by expand"
    And the output contains "globex: initial -> expanded by expand"
    And the output contains "pre-check FAILS today: expand: orders exist (actual 0, expected 1)"
    And the fleet's targets "internal, acme, globex" have no schema "migrator"
