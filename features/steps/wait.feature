Feature: Waiting between two steps
  An application picks up a flag a little after it is set: a `wait` step lets that time
  pass before the next step relies on it. It holds no transaction and no lock while it
  waits, says what it waits for, and shows in the dry run and the runbook like any step.
  Ctrl-C stops it at once; `migrator resume` then waits again, the whole duration, since
  nobody knows what the application did while the run sat interrupted.

  Scenario: A wait step waits, and the dry run and the runbook show it
    Given the plan "rollout.yaml":
      """
      plan: rollout
      kind: hotfix
      steps:
        - {name: write new, flag: {name: WRITE_NEW, value: true}}
        - name: let the app see it
          description: the app reads its flags every few seconds
          wait: 200ms
        - {name: read new, flag: {name: READ_NEW, value: true}}
      """
    When I run "migrator plan rollout.yaml"
    Then the exit code is 0
    And the output contains "wait 200ms"
    When I run "migrator docs rollout.yaml"
    Then the output contains "wait 200ms"
    When I run "migrator apply rollout.yaml"
    Then the exit code is 0
    And the output contains "waiting 200ms (step let the app see it): the app reads its flags every few seconds"
    And the flags are "READ_NEW=true, WRITE_NEW=true"
    And the query "select detail->'memo'->>'waited' from migrator.events where step = 'let the app see it' and status = 'done'" returns "0.2"

  Scenario: Ctrl-C during a wait stops the run, and resume waits again
    Given the plan "rollout.yaml":
      """
      plan: rollout
      kind: hotfix
      steps:
        - {name: write new, flag: {name: WRITE_NEW, value: true}}
        - name: let the app see it
          wait: 1h
        - {name: read new, flag: {name: READ_NEW, value: true}}
      """
    When "migrator apply rollout.yaml" gets SIGINT while step "let the app see it" waits
    Then the exit code is 130
    And the output contains "waiting 1h (step let the app see it)"
    And the output contains "run 1 (apply) of plan rollout is left interrupted (stopped while step let the app see it waited"
    And the runs of plan "rollout" are "apply interrupted"
    And the flags are "WRITE_NEW=true"
    When "migrator resume rollout.yaml" gets SIGTERM while step "let the app see it" waits
    Then the exit code is 143
    And the output contains "waiting 1h (step let the app see it)"
    And the query "select count(*) from migrator.events where step = 'let the app see it' and status = 'started'" returns "2"
    And the runs of plan "rollout" are "apply interrupted"
    When I run "migrator rollback rollout.yaml"
    Then the exit code is 0
    And the query "select count(*) from migrator.flags" returns "0"
