Feature: SQL steps with function bodies and rule actions
  A `sql` step is cut into statements where PostgreSQL cuts them: a `;` inside a
  function's SQL-standard body (`BEGIN ATOMIC ... END`, PostgreSQL 14 and later) or
  inside a rule's parenthesised actions (`DO ALSO (...; ...)`) does not end the
  statement, while `BEGIN;` as a transaction command still does. So a release engineer
  writes such definitions in a step as they would in psql, and the step applies and
  rolls back whole. A check only reads: one that would define a function is refused
  by validate, the statement named as the server would count it.

  Scenario: A step creating a BEGIN ATOMIC function and a multi-action rule applies and rolls back
    Given the SQL:
      """
      create table orders (id int primary key, total numeric);
      create table order_log (id int, what text);
      """
    And the plan "audit-orders.yaml":
      """
      plan: audit-orders
      kind: hotfix
      steps:
        - name: grade orders and log every new one
          sql: |
            create function order_grade(total numeric) returns text language sql
            begin atomic
              select case when total >= 100 then 'large; check stock'
                          when total >= 10 then 'medium'
                          else 'small' end;
            end;
            create rule log_orders as on insert to orders do also (
              insert into order_log values (new.id, 'inserted');
              insert into order_log values (new.id, order_grade(new.total))
            );
          rollback:
            sql: |
              drop rule log_orders on orders;
              drop function order_grade(numeric);
      post_checks:
        - name: a large order is graded
          query: select order_grade(250)
          expect: "large; check stock"
      """
    When I run "migrator validate audit-orders.yaml"
    Then the exit code is 0
    When I run "migrator apply audit-orders.yaml"
    Then the exit code is 0
    And the output contains "post-check a large order is graded: passed"
    And the query "select count(*) from pg_rewrite where rulename = 'log_orders'" returns "1"
    When I run "migrator rollback audit-orders.yaml"
    Then the exit code is 0
    And the query "select count(*) from pg_proc where proname = 'order_grade'" returns "0"
    And the query "select count(*) from pg_rewrite where rulename = 'log_orders'" returns "0"

  Scenario: A check that would define a function is refused by validate, its statement named
    Given the plan "sneaky.yaml":
      """
      plan: sneaky
      kind: hotfix
      pre_checks:
        - name: a check that defines
          query: |
            select 1;
            create function f() returns int language sql begin atomic select 1; end;
            select 2
          expect: 2
      steps:
        - sql: select 1
      """
    When I run "migrator validate sneaky.yaml"
    Then the exit code is 2
    And the output contains "statement 2: a `;` inside parentheses or a BEGIN ATOMIC ... END body"
