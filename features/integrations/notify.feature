Feature: Notifications: the people and systems around a run are told how it went
  A plan names its receivers under `notify:`: a webhook gets a JSON document, a Slack
  channel a message. The release engineer hears when a run starts, fails, fails its
  undo, needs an approval or is interrupted, with the check's difference and the
  command that settles it. A receiver that is down or hangs never holds or fails the
  run, and no secret is ever sent.

  Background:
    Given a receiver, whose URL (its token in the path) is in the environment variable "RECEIVER_URL"
    And the SQL:
      """
      create table orders (id int primary key);
      insert into orders values (1), (2), (3);
      create table orders_before (id int primary key);
      insert into orders_before values (1), (2), (3), (4);
      """
    And the plan "orders.yaml":
      """
      plan: orders
      phases: [v1, v2]
      transitions:
        - name: split
          from: v1
          to: v2
          pre_checks:
            - name: every order kept
              query: select id from orders
              expect: {equals_query: "select id from orders_before"}
          steps:
            - sql: alter table orders add column region text
              rollback: {sql: alter table orders drop column region}
      notify:
        - url: "${env:RECEIVER_URL}"
          timeout: 2s
      """

  Scenario: A failed run is told with the check's difference and what settles it
    When I run "migrator apply orders.yaml --to v2"
    Then the exit code is 1
    And the receiver was told "run_started, run_failed"
    And the "run_failed" notification says "outcome" is "nothing applied"
    And the "run_failed" notification says "checks.0.name" is "every order kept"
    And the "run_failed" notification says "checks.0.differences.0.only_in" is "equals_query"
    And the "run_failed" notification says "checks.0.differences.0.key.0.value" is "4"
    And the "run_failed" notification says "settle" is "nothing was applied: `migrator apply orders.yaml --to v2` once the cause is fixed"

  Scenario: A Slack channel gets the same as a message
    Given the plan "orders.yaml" tells its receiver in format "slack"
    When I run "migrator apply orders.yaml --to v2"
    Then the exit code is 1
    And the Slack message that says "failed (nothing applied)" has a block "*Check* `every order kept` (pre-check): actual 3 rows, expected the same 4 rows"
    And the Slack message that says "failed (nothing applied)" has a block "*To settle it*"

  Scenario: A receiver that hangs never holds the run
    Given the receiver hangs
    When I run "migrator apply orders.yaml --to v2"
    Then the exit code is 1
    And the run ended while the receiver was still holding on
    And the audit trail has a warning "no answer within 2s; the run went on without it"

  Scenario: A receiver that is down never fails the run, and the warning names only its host
    Given the receiver is down
    When I run "migrator apply orders.yaml --to v2"
    Then the exit code is 1
    And the audit trail has a warning "to http://127.0.0.1:"
    And the audit trail has a warning "not delivered: ConnectError"
    And no warning holds "T0K3N-secret"

  Scenario: No secret is ever sent
    Given the environment variable "ORDERS_TOKEN" is "tok-9f8e7d6c5b"
    And the plan "orders.yaml" checks instead that a service answers the token "${env:ORDERS_TOKEN}"
    When I run "migrator apply orders.yaml --to v2"
    Then the exit code is 1
    And the service was asked with the header "Authorization: Bearer tok-9f8e7d6c5b"
    And the "run_failed" notification says "checks.0.name" is "the service knows the token"
    And no notification holds "tok-9f8e7d6c5b"
    And no notification holds the database's password
    And no notification holds "T0K3N-secret"
    And the output does not contain "T0K3N-secret"

  Scenario: A rollback that undoes a run left interrupted is told as succeeding
    Given the plan "long.yaml":
      """
      plan: long
      vars: {nap: 0}
      phases: [v1, v2]
      transitions:
        - name: grow
          from: v1
          to: v2
          steps:
            - {name: add, sql: "insert into orders values (10)", rollback: {sql: "delete from orders where id = 10"}}
            - {name: wait, sql: "select pg_sleep(:nap)"}
      notify:
        - url: "${env:RECEIVER_URL}"
          timeout: 2s
      """
    And "migrator apply long.yaml --to v2 --var nap=60" was killed during step "wait"
    When I run "migrator rollback long.yaml --yes"
    Then the exit code is 0
    And the receiver was told "run_started, run_succeeded" by the rollback
    And the last notification says "outcome" is "rolled back"
    And the query "select count(*) from orders where id = 10" returns "0"

  Scenario: A receiver's URL that cannot be one is refused where it is written, never shown
    Given the plan "typo.yaml":
      """
      plan: typo
      phases: [v1, v2]
      transitions:
        - {name: split, from: v1, to: v2, steps: [{sql: select 1}]}
      notify:
        - url: "https://hooks.slack.com:T000SECRET/B000/X"
      """
    When I run "migrator validate typo.yaml"
    Then the exit code is 2
    And the output contains "typo.yaml:6:10: notify[0].url: a receiver's url must be http:// or https://"
    And the output does not contain "T000SECRET"
