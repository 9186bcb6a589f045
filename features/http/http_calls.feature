@ir07
Feature: Calling a service, and checking what it answers
  A step can call an HTTP endpoint (deploy, invalidate a cache, finalize a test
  session); a check can call one and compare its status and a part of its JSON
  answer. Secrets in URLs and headers come from the environment and are shown as
  `***`. IR-07 was verified this way: the test session gets a profile again.

  Background:
    Given the environment variable "SERVICE_ROLE_KEY" is "sk-live-7f3a9c"
    And the plan "verify.yaml":
      """
      plan: verify
      kind: hotfix
      vars: {session: 618c5ea6}
      steps:
        - name: finalize the test session
          http:
            method: POST
            url: "${env:SERVICE_URL}/functions/v1/finalizeAssessment"
            headers: {Authorization: "Bearer ${env:SERVICE_ROLE_KEY}"}
            json: {session_id: "${session}"}
      post_checks:
        - name: the test session has a profile
          http:
            url: "${env:SERVICE_URL}/functions/v1/results?session_id=618c5ea6"
            headers: {Authorization: "Bearer ${env:SERVICE_ROLE_KEY}"}
          expect: {status: 200, json: {ok: true, profile: {results_version: v1.2.1}}}
      """

  Scenario: The call is made with the secret, the answer is checked, the secret never shows
    Given the service answers "/functions/v1/finalizeAssessment" with 200 and:
      """
      {"ok": true, "status": "success"}
      """
    And the service answers "/functions/v1/results?session_id=618c5ea6" with 200 and:
      """
      {"ok": true, "profile": {"results_version": "v1.2.1", "type_code": "INTJ"}}
      """
    When I run "migrator apply verify.yaml"
    Then the exit code is 0
    And the service was called with "Authorization: Bearer sk-live-7f3a9c"
    And the service was called with ""session_id":"618c5ea6""
    And the output contains "post-check the test session has a profile: passed"
    And the output does not contain "sk-live-7f3a9c"

  Scenario: A service that fails fails the step
    Given the service answers "/functions/v1/finalizeAssessment" with 500 and:
      """
      {"ok": false, "error": "no policy on profiles"}
      """
    When I run "migrator apply verify.yaml"
    Then the exit code is 1
    And the output contains "answered 500"
    And the output does not contain "sk-live-7f3a9c"

  Scenario: An answer that is not the one expected fails the check, showing both
    Given the service answers "/functions/v1/finalizeAssessment" with 200 and:
      """
      {"ok": true, "status": "success"}
      """
    And the service answers "/functions/v1/results?session_id=618c5ea6" with 200 and:
      """
      {"ok": true, "profile": {"results_version": "v1.2.0"}}
      """
    When I run "migrator apply verify.yaml"
    Then the exit code is 1
    And the output contains "post-check the test session has a profile: failed"
    And the output contains "v1.2.0"
