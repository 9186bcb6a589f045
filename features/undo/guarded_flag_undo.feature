Feature: The undo of a flag restores only what its step changed
  The step that sets a flag records the value it set. Before its undo puts back the
  earlier value, it reads the flag: if someone changed or deleted it since, the undo
  fails (exit 3) naming the difference, masked if the flag holds a secret, and leaves
  the flag as that person set it. Once the flag is settled by hand, the rollback runs
  again.

  Background:
    Given the plan "launch.yaml":
      """
      plan: launch
      kind: hotfix
      steps:
        - name: open checkout
          flag: {name: checkout_v2, value: true}
      """
    And I ran "migrator apply launch.yaml" and it exited 0

  Scenario: Someone turned the flag off since: the rollback refuses to overwrite it
    Given the SQL:
      """
      update migrator.flags set value = '"off for the incident"' where name = 'checkout_v2';
      """
    When I run "migrator rollback launch.yaml"
    Then the exit code is 3
    And the output contains "flag checkout_v2 is not as its step left it: the step set it to true and it now holds "off for the incident""
    And the output contains "the undo changed nothing"
    And the query "select value #>> '{}' from migrator.flags where name = 'checkout_v2'" returns "off for the incident"

  Scenario: Someone deleted the flag since: the rollback says so
    Given the SQL:
      """
      delete from migrator.flags where name = 'checkout_v2';
      """
    When I run "migrator rollback launch.yaml"
    Then the exit code is 3
    And the output contains "flag checkout_v2 is not as its step left it: the step set it to true and it was deleted"
    And the query "select count(*) from migrator.flags" returns "0"

  Scenario: Once the flag is as the step left it again, the rollback goes through
    Given the SQL:
      """
      update migrator.flags set value = 'false' where name = 'checkout_v2';
      """
    And I ran "migrator rollback launch.yaml" and it exited 3
    And the SQL:
      """
      update migrator.flags set value = 'true' where name = 'checkout_v2';
      """
    When I run "migrator rollback launch.yaml"
    Then the exit code is 0
    And the query "select count(*) from migrator.flags" returns "0"

  Scenario: A flag set from a secret and changed since is named masked
    Given the environment variable "CHECKOUT_KEY" is "ck-live-90af13e2"
    And the plan "key.yaml":
      """
      plan: key
      kind: hotfix
      steps:
        - flag: {name: checkout_key, value: "${env:CHECKOUT_KEY}"}
      """
    And I ran "migrator apply key.yaml" and it exited 0
    And the SQL:
      """
      update migrator.flags set value = '"ck-live-rotated-77b1"' where name = 'checkout_key';
      """
    When I run "migrator rollback key.yaml"
    Then the exit code is 3
    And the output contains "flag checkout_key is not as its step left it: the step set it to "***" and it now holds "***""
    And the output does not contain "ck-live"
    And the query "select value #>> '{}' from migrator.flags where name = 'checkout_key'" returns "ck-live-rotated-77b1"
