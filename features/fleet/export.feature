Feature: A fleet's rollout exported to a scheduler
  When one machine is not enough, `migrator fleet export` writes the same rollout as
  manifests for a scheduler that already runs your jobs: a Kubernetes Indexed Job per wave,
  or one Argo Workflow. Each pod runs one `migrator apply` of one target, exactly as
  `fleet apply` would: its own lock and audit trail in its own database. No DSN is ever
  written: each pod reads its target's from a Secret you make, mounted as files; the
  output begins with the commands that make it and run the waves in order.

  Background:
    Given the fleet "fleet.yaml" of the targets "internal (canary), acme, beta" in the waves:
      """
      - {name: canary, match: {group: canary}, bake: 10m}
      - {name: rest, parallel: 4, max_failures: 1, approval: true}
      """
    And the plan "widgets.yaml":
      """
      plan: widgets
      phases: [before, after]
      transitions:
        - name: add
          from: before
          to: after
          steps:
            - sql: create table widgets (id int)
      """

  Scenario: Kubernetes: an Indexed Job per wave, each index one target
    When I run "migrator fleet export fleet.yaml widgets.yaml --to after --format k8s"
    Then the exit code is 0
    And every manifest is valid against the Kubernetes schema
    And the Job of wave "rest" runs the targets "acme, beta" by index, 2 at a time, 1 failure allowed
    And the Job of wave "rest" fails a target at once on exit "1, 2, 3, 6" and retries it on "4, 5, 130, 143"
    And the output contains "job_end tenants-widgets-after-canary"
    And the output contains "job $1 failed: the rollout stops"
    And the output contains "sleep 600  # wave canary's bake"
    And no DSN and no password is in the output

  Scenario: Argo Workflows: the waves in order, an approval as a suspend, a bake as a timed one
    When I run "migrator fleet export fleet.yaml widgets.yaml --to after --format argo"
    Then the exit code is 0
    And the Workflow is valid against the Argo schema
    And the Workflow runs "wave-canary, bake-canary, approve-rest, wave-rest" one after the other
    And the output contains "argo resume @latest --node-field-selector displayName=approve-rest"
    And the output contains "asInt(lastRetry.exitCode) in [4, 5, 130, 143]"
    And no DSN and no password is in the output

  Scenario: The Secret is made from environment variables, never from a value on a command line
    When I run "migrator fleet export fleet.yaml widgets.yaml --to after --format k8s"
    Then the output contains "kubectl create secret generic tenants-targets"
    And the output contains "--from-file=acme=<(printf %s "$FLEET_DSN_ACME")"
    And no DSN and no password is in the output

  Scenario: Names Kubernetes refuses become safe names, the exact ones kept beside them
    Given the fleet "odd.yaml" of the targets "Tenant_A.eu, b" in the waves:
      """
      - {name: First_Wave, match: {name: 'Tenant*'}}
      - {name: first.wave}
      """
    When I run "migrator fleet export odd.yaml widgets.yaml --to after --format k8s"
    Then the exit code is 0
    And every manifest is valid against the Kubernetes schema
    And every object's name is a DNS-1123 label, none twice
    And the output contains "migrator/wave: First_Wave"

  Scenario: A scheduler migrator does not know is refused
    When I run "migrator fleet export fleet.yaml widgets.yaml --to after --format nomad"
    Then the exit code is 2
    And the output contains "'nomad' is not one of 'k8s', 'argo'"

  Scenario: A namespace or a Secret name Kubernetes refuses is bad usage, never pasted in a command
    When I run "migrator fleet export fleet.yaml widgets.yaml --to after --format k8s --namespace 'x; touch pwned'"
    Then the exit code is 2
    And the output contains "--namespace 'x; touch pwned' is not a Kubernetes namespace name"
    When I run "migrator fleet export fleet.yaml widgets.yaml --to after --format k8s --secret 'a$(touch pwned)'"
    Then the exit code is 2
    And the output contains "is not a Kubernetes Secret name"
