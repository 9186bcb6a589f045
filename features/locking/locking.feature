Feature: One run at a time per plan
  A run holds the plan's lock for its whole life. A second operator is turned
  away at once, told who holds it, and nothing of their attempt is recorded.

  Scenario: A second operator is turned away with who holds the lock
    Given the SQL:
      """
      create table go_on (ok boolean);
      """
    And the plan "slow.yaml":
      """
      plan: slow
      phases: [before, after]
      transitions:
        - name: go
          from: before
          to: after
          steps:
            - name: wait until told to go on
              timeout: 60s
              sql: |
                do $$
                begin
                  while not exists (select 1 from go_on) loop
                    perform pg_sleep(0.05);
                  end loop;
                end
                $$
      """
    And "alice" is running "migrator apply slow.yaml --to after" in another terminal
    When I run "migrator apply slow.yaml --to after --operator bob"
    Then the exit code is 4
    And the output contains "plan slow is locked: held by run 1 of alice on"
    And the runs of plan "slow" are "go applying"
    Given the SQL:
      """
      insert into go_on values (true);
      """
    Then alice's run ends with exit code 0

  Scenario: Two different plans run side by side on one database
    Given the SQL:
      """
      create table handoff (plan text);
      """
    And the plan "reindex.yaml":
      """
      plan: reindex
      kind: hotfix
      steps:
        - name: wait until the reports plan has run
          timeout: 30s
          sql: |
            do $$
            begin
              while not exists (select 1 from handoff where plan = 'reports') loop
                perform pg_sleep(0.05);
              end loop;
            end
            $$
      """
    And the plan "reports.yaml":
      """
      plan: reports
      kind: hotfix
      steps:
        - name: leave a mark
          sql: insert into handoff values ('reports')
          rollback: {sql: "delete from handoff where plan = 'reports'"}
      """
    And "alice" is running "migrator apply reindex.yaml" in another terminal
    When I run "migrator apply reports.yaml --operator bob"
    Then the exit code is 0
    And the output does not contain "is locked"
    And alice's run ends with exit code 0
    And the plan "reports" is in phase "applied"
    And the plan "reindex" is in phase "applied"
