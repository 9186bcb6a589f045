-- The corpus the SQL splitter (migrator.db.sqltext) is checked on, against the server
-- (tests/integration/test_splitting_server.py) and without it (tests/unit/test_sqltext.py).
-- Each case starts at a `-- case:` line, says how many statements it holds on its
-- `-- statements:` line, and runs on PostgreSQL 14 and later, in one transaction rolled
-- back at the end. `:v` is bound to the text 'bound'.

-- case: a BEGIN ATOMIC body with a CASE ... END inside
-- statements: 3
create table t1 (a int, b text);
create function f1(x int) returns text language sql
begin atomic
  insert into t1 values (x, 'one; two');
  select case when x > 0 then 'positive' when x < 0 then 'negative' else 'zero' end;
end;
select f1(1);

-- case: a procedure whose body nests CASE in CASE, in parentheses and in a WHERE
-- statements: 3
create table t2 (a int);
create procedure p2(x int) language sql
begin atomic
  insert into t2 select case when x > 0 then case when x > 10 then 2 else 1 end else 0 end;
  insert into t2 values ((case x when 1 then 1 end));
  delete from t2 where a = case when x = 0 then -1 end;
end;
call p2(5);

-- case: CREATE OR REPLACE, shouting, comments between BEGIN and ATOMIC and in the body
-- statements: 2
CREATE OR REPLACE FUNCTION f3() RETURNS int LANGUAGE sql
BEGIN /* the body */ -- starts here
ATOMIC
  SELECT 1; -- ; END
  SELECT 2 /* ; end; /* nested ; */ */;
END;
SELECT f3();

-- case: an empty BEGIN ATOMIC body, the next statement right after its END
-- statements: 2
create function f4() returns void language sql begin atomic end;select f4();

-- case: columns named begin and end inside a body (a name after . or AS is no keyword)
-- statements: 3
create table t5 ("begin" int, "end" int);
create function f5() returns setof int language sql
begin atomic
  select begin from t5;
  select t.end as end from t5 t;
end;
select * from f5();

-- case: parameters named begin and end, read in the body
-- statements: 2
create function f6(begin int, "end" int) returns int language sql
begin atomic
  select begin + "end";
end;
select f6(1, 2);

-- case: a function named begin has no body to wait for
-- statements: 2
create function begin() returns int language sql return 1;
select begin();

-- case: a SQL-standard RETURN with a CASE opens no body
-- statements: 2
create function f8(a int) returns int language sql immutable
return case when a > 0 then a else 0 end;
select f8(2);

-- case: a PL/pgSQL body in a dollar quote, BEGIN and END inside it
-- statements: 2
create function f9() returns int language plpgsql as $body$
begin
  return 1; -- ;
end
$body$;
select f9();

-- case: a SQL body as a string holding two statements
-- statements: 2
create function f10() returns int language sql as 'select 1; select 2';
select f10();

-- case: DO blocks with begin, end and nested dollar tags
-- statements: 3
do $$ begin perform 1; end $$;
do $outer$ begin perform $q$ ; end; $q$; end $outer$;
select 1;

-- case: transaction control as statements still ends them
-- statements: 4
begin;
select 1;
BEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED;
rollback;

-- case: BEGIN, START and END of a transaction, one after the other
-- statements: 4
start transaction; select 'begin atomic'; begin work; end;

-- case: a rule with two actions in parentheses
-- statements: 4
create table t11 (a int);
create table t11_log (a int, what text);
create rule r11 as on insert to t11 do also (
  insert into t11_log values (new.a, 'one;');
  insert into t11_log values (new.a, 'two')
);
insert into t11 values (1);

-- case: a rule DO INSTEAD with actions and an empty one, on a view
-- statements: 4
create table t12 (a int);
create view v12 as select a from t12;
create rule r12 as on insert to v12 do instead (insert into t12 values (new.a); ; notify t12;);
insert into v12 values (3);

-- case: a rule DO INSTEAD NOTHING
-- statements: 3
create table t13 (a int);
create rule r13 as on delete to t13 do instead nothing;
delete from t13;

-- case: standard strings with doubled quotes and backslashes
-- statements: 4
select 'it''s; fine', 'a\';
select '\'; select '''';
select ';';

-- case: escape strings with \' and \\
-- statements: 3
select E'a\'; b', e'\\';
select E'\\\'; still';
select 'e'' ; x';

-- case: Unicode, bit, hex and national strings and identifiers
-- statements: 2
select U&'d\0061t;\+000061' as "x;y", B'101', X'1F', N'n;';
select U&"d;" from (select 1 as "d;") x;

-- case: a string continued on the next line
-- statements: 2
select 'a;'
  'b;';
select 2;

-- case: dollar quotes with tags, nested, and $ inside words
-- statements: 4
select $a$ $b$ ; $b$ $a$;
select $_$;$_$, $$;$$;
create table t14 (x$$y int);
select x$$y from t14;

-- case: nested block comments and line comments holding ;
-- statements: 2
/* a /* nested ; */ still ; */ select 1; -- trailing ; comment
select 2 -- no newline at the end

-- case: quoted identifiers with ; and doubled quotes
-- statements: 2
create table "a;""b" ("c;" int);
select "c;" from "a;""b";

-- case: casts and a bound parameter
-- statements: 3
select :v::text, ':v', 1::int;
select array[1, 2, 3]::int[];
select :v || ';';

-- case: empty statements between semicolons
-- statements: 2
select 1;; ;
select 2;

-- case: begin as a CTE name and a column label
-- statements: 2
with begin as (select 1 as begin) select begin from begin;
select 1 as begin, 2 as "end";

-- case: a body with a CTE, a subquery and a CASE in parentheses
-- statements: 3
create table t15 (a int);
create function f15() returns bigint language sql
begin atomic
  with x as (select case when a > 0 then 1 end as p from t15)
  select count(*) from x where p = (select case when true then 1 end);
end;
select f15();

-- case: a procedure with one statement and no final semicolon
-- statements: 2
create table t16 (a int);
create procedure p16() language sql begin atomic insert into t16 values (1); end

-- case: two routines in a row, the second replacing the first
-- statements: 3
create function f17() returns int language sql begin atomic select 1; end;
create or replace function f17() returns int language sql begin atomic select 2; end;
select f17();
