Feature: Taking a plan back from a frozen process
  A process that neither works nor dies (stopped, hung, on a host out of reach)
  keeps its plan's lock. `migrator unlock PLAN --run N` ends every session of
  that process, after confirmation (`--yes` gives it), and records run N
  interrupted with who unlocked it, so that `resume` or `rollback` settles it.
  The run is no longer the frozen process's: woken up, it stops with exit 4
  and runs nothing more.
  `migrator status` only reads who holds a lock: it never stands in a run's way.

  Background:
    Given the SQL:
      """
      create table go_on (ok boolean);
      create table marks (step text);
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
            - name: mark
              sql: insert into marks values ('mark')
              rollback: {sql: "delete from marks where step = 'mark'"}
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

  Scenario: unlock ends a frozen holder, and resume finishes its run
    Given "alice" is running "migrator apply slow.yaml --to after" in another terminal
    And alice's process is frozen
    When I run "migrator status slow.yaml"
    Then the exit code is 0
    And the output contains "lock: held by run 1 of alice"
    When I run "migrator apply slow.yaml --to after --operator bob"
    Then the exit code is 4
    When I run "migrator unlock slow.yaml --run 1"
    Then the exit code is 2
    And the output contains "needs --yes or a terminal; nothing was done"
    When I run "migrator unlock slow.yaml --run 1 --yes --operator bob"
    Then the exit code is 0
    And the output contains "run 1 of plan slow is interrupted"
    And the runs of plan "slow" are "go interrupted"
    And the query "select detail->>'operator' from migrator.events where kind = 'lock' and status = 'unlocked'" returns "bob"
    Given the SQL:
      """
      insert into go_on values (true);
      """
    When I run "migrator resume slow.yaml --operator bob"
    Then the exit code is 0
    And the plan "slow" is in phase "after"
    And the query "select count(*) from marks" returns "1"
    When alice's process wakes up
    Then the exit code is 4
    And the output contains "run 1 of plan slow was taken over by bob on"
    And the output contains "this process stopped and ran nothing more"
    And the query "select count(*) from marks" returns "1"

  Scenario: unlock refuses a run that is not live
    Given the SQL:
      """
      insert into go_on values (true);
      """
    And I ran "migrator apply slow.yaml --to after"
    When I run "migrator unlock slow.yaml --run 1 --yes"
    Then the exit code is 2
    And the output contains "run 1 of plan slow is succeeded, not live: nothing to unlock"
