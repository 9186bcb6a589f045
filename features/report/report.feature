Feature: The evidence of one run, for a post-incident review
  `migrator report RUN` puts together what the audit trail recorded about one
  run (RUN is the run's id from `migrator history`), failures first: what failed
  and what was undone, each check's actual value against the expected one, who
  approved, how long each step took, and the timeline. As Markdown for people
  (rendered on a terminal), as a standalone page, or as one JSON document.

  Background:
    Given the SQL:
      """
      create table sessions (id int, status text);
      insert into sessions values (1, 'completed'), (2, 'completed');
      """
    And the plan "backfill.yaml":
      """
      plan: backfill
      phases: [missing, filled]
      transitions:
        - name: fill
          from: missing
          to: filled
          risk: high
          approval: true
          pre_checks:
            - name: sessions are there
              query: select count(*) from sessions
              expect: 2
          steps:
            - name: create profiles
              sql: create table profiles (session_id int)
              rollback: {sql: drop table profiles}
            - name: fill profiles
              sql: insert into profiles select id from sessions where id = 1
              rollback: {sql: delete from profiles}
          post_checks:
            - name: every session has a profile
              query: select count(*) from sessions s left join profiles p on p.session_id = s.id where p.session_id is null
              expect: 0
      """
    And I ran "migrator apply backfill.yaml --to filled --yes --operator dana" and it exited 1

  @read_only
  Scenario: A run that was undone: what was expected, what was found, what was taken back
    When I run "migrator report 1"
    Then the exit code is 0
    And the output contains "**Outcome:** undone: what the run did was taken back; the plan stayed in missing"
    And the output contains "| post | every session has a profile | **failed** | `1` | `0` | 1 |"
    And the output contains "| pre | sessions are there | **passed** | `2` | `2` | 1 |"
    And the output contains "- **approved** by dana via `--yes`"
    And the output contains "1. fill profiles: **done**"
    And the output contains "2. create profiles: **done**"
    And the output contains "drop table profiles"
    And the output contains "run undoing → undone: a post-check failed"

  @read_only
  Scenario: What failed comes first, the values as values
    When I run "migrator report 1"
    Then its sections begin with "What failed, What was undone"
    And the output contains "1. post-check every session has a profile: **failed**: actual `1`, expected `0`"

  @read_only
  Scenario: The report as a page that works offline, with the plan's phases
    The page is one file: failures first, the plan's phases drawn as an SVG from the
    runs this database recorded (the phase the plan is in highlighted), no script,
    nothing fetched.
    When I run "migrator report 1 --output html"
    Then the exit code is 0
    And the output contains "<!DOCTYPE html>"
    And its sections begin with "What failed, What was undone"
    And the page draws the phases "missing, filled" and the transitions "fill"
    And the output contains "<g class="phase current" data-phase="missing">"
    And the page has no script and fetches nothing from the network

  @read_only
  Scenario: On a terminal the report is rendered to fit it; piped, it is Markdown
    When I run "migrator report 1" on a terminal 80 columns wide
    Then the exit code is 0
    And the output contains "What failed"
    And the output contains "every session has a profile"
    And the output is rendered, not Markdown source
    And no line is wider than 80 columns

  @read_only
  Scenario: The same evidence as JSON
    When I run "migrator report 1 --output json"
    Then the exit code is 0
    And the output is a JSON document whose "run.status" is "undone"
    And the output is a JSON document whose "checks.1.actual" is "1"
    And the output is a JSON document whose "approvals.0.operator" is "dana"
    And the output is a JSON document whose "undone.0.step" is "fill profiles"

  Scenario: A rollback's report names the run it took back
    Given the SQL:
      """
      update sessions set id = 1 where id = 2;
      """
    And I ran "migrator apply backfill.yaml --to filled --yes --operator dana"
    And I ran "migrator rollback backfill.yaml --yes --operator erin"
    When I run "migrator report 3"
    Then the exit code is 0
    And the output contains "- **Takes back:** run 2 (`fill`, succeeded)"
    And the output contains "| undo fill profiles | `undo:sql` | **done** |"
    When I run "migrator report 2"
    Then the output contains "- **Taken back by:** run 3 (`revert fill` by erin, succeeded)"

  @read_only
  Scenario: A run that does not exist
    When I run "migrator report 99"
    Then the exit code is 2
    And the output contains "no run 99 in this database"

  Scenario: A failed parity check's report shows the rows that differ, by their key
    Given the plan "parity.yaml":
      """
      plan: parity
      phases: [dual, unified]
      transitions:
        - name: unify
          from: dual
          to: unified
          steps:
            - name: nothing
              sql: select 1
              rollback: {sql: select 1}
          post_checks:
            - name: results agree
              query: select * from (values (1, 0.724), (2, 0.5)) as r(session_id, confidence)
              expect:
                equals_query: select * from (values (1, 0.362), (2, 0.5)) as l(session_id, confidence)
      """
    And I ran "migrator apply parity.yaml --to unified" and it exited 1
    When I run "migrator report 2"
    Then the output contains "1. post-check results agree: **failed**"
    And the output contains "   - session\_id 1: confidence 0.724 vs 0.362"

  Scenario: Control characters from the database and the plan are shown, never sent to the terminal
    A value a check read (an escape sequence that would clear the screen and set the
    window's title) and a phase's name holding one are written `\xNN`: a report piped
    to a file or read on a terminal cannot move the cursor, clear the screen or hide text.
    Given the plan "hostile.yaml":
      """
      plan: hostile
      phases: ["review\e[31mRED", after]
      transitions:
        - name: look
          from: "review\e[31mRED"
          to: after
          steps:
            - name: nothing
              sql: select 1
              rollback: {sql: select 1}
          post_checks:
            - name: screen
              query: select chr(27) || '[2Jcleared' || chr(27) || ']0;owned' || chr(7)
              expect: nope
      """
    And I ran "migrator apply hostile.yaml --to after --yes" and it exited 1
    When I run "migrator report 2"
    Then the output contains "\x1b[2Jcleared\x1b]0;owned\x07"
    And the output contains "review\x1b[31mRED"
    And the output holds no control character
    When I run "migrator report 2" on a terminal 80 columns wide
    Then the output contains "\x1b[2Jcleared\x1b]0;owned\x07"
    And the output holds no control character
