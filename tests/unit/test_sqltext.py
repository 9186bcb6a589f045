"""The SQL splitter (migrator.db.sqltext) without a server: the corpus' counts, the text
kept whole, and fuzzing. tests/integration/test_splitting_server.py has the server run
every piece."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.db.checksql import sql_problems, words
from migrator.db.sqltext import split, statements
from tests.splitting import Case, cases


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_the_corpus_splits_into_its_statements(case: Case) -> None:
    assert len(statements(case.sql)) == case.statements
    assert "".join(split(case.sql)) == case.sql
    for statement in statements(case.sql):  # a statement's text splits into itself
        assert statements(statement.text) == [statement]


BODY = (
    "create function f() returns int language sql\n"
    "begin atomic\n  select case when true then 1 end;\n  select 2;\nend"
)


def test_a_body_is_one_statement_its_text_kept_and_the_next_one_after_it() -> None:
    sql = f"select 0;\n{BODY};\nselect 3"
    first, body, last = statements(sql)
    assert (first.text, body.text, last.text) == ("select 0", BODY, "select 3")
    assert split(sql) == ["select 0;", f"\n{BODY};", "\nselect 3"]


@pytest.mark.parametrize(
    ("sql", "count"),
    [
        ("begin; select 1; commit", 3),
        ("BEGIN TRANSACTION; select 1; END", 3),
        ("begin atomic; select 1", 2),  # no routine: BEGIN is a statement
        ("create table begin (a int); select 1", 2),
        ("create function f() returns int begin atomic select 1; end; select 2", 2),
        ("create procedure p() begin atomic select 1; end; select 2", 2),
        ("create or replace procedure p() begin atomic select 1; end; select 2", 2),
        ("CREATE OR REPLACE FUNCTION f() BEGIN ATOMIC SELECT 1; END; SELECT 2", 2),
        ("create function f() begin atomic select case 1 when 1 then 1 end; end; select 2", 2),
        ("create function begin() returns int return 1; select 2", 2),
        ("create function f() begin atomic select begin from t; end; select 2", 2),
        ("create function f() begin atomic select t.end as end from t; end; select 2", 2),
        ("create rule r as on insert to t do also (select 1; select 2); select 3", 2),
        ("create rule r as on insert to t do instead (notify a; notify b;); select 3", 2),
        ("select (1; select 2", 1),  # an unclosed parenthesis: the server says what is wrong
        ("select 1); select 2", 2),
        ("do $$ begin perform 1; end $$; select 2", 2),
        ("create function f() as $$ begin return; end $$ language plpgsql; select 2", 2),
    ],
)
def test_where_statements_end(sql: str, count: int) -> None:
    assert len(statements(sql)) == count, split(sql)


def test_a_check_may_not_send_a_body_and_nothing_hides_in_one() -> None:
    """A check's rules read a routine body or rule actions as the one statement it is,
    and refuse it: a `;` inside a statement belongs to a definition. So a COMMIT the
    splitter keeps inside one (were the server to read it otherwise) is never sent."""
    (problem,) = sql_problems(f"select 1; {BODY}; select 2")
    assert problem.startswith("statement 2: a `;` inside parentheses or a BEGIN ATOMIC")
    hidden = "create function f() begin atomic select begin from t; commit; select 1; end"
    assert sql_problems(hidden)
    assert sql_problems("create rule r as on insert to t do also (select 1; commit)")
    assert sql_problems("select (1; commit)")
    assert sql_problems("select 1; select 'a;b' from t where x in (1, 2)") == []
    assert len(words(f"{BODY}; commit")) == 2  # the body, then the COMMIT


# -- fuzzing ------------------------------------------------------------------------------

STATEMENTS = st.sampled_from(
    [
        "select 1",
        "select 'a;b', E'c\\';d', 'e''f;'",
        'select "x;""y" from t',
        "select $t$;$t$, $$ ; $$",
        "select 1 /* ; /* ; */ ; */",
        "select 1 -- ;\n",
        "begin",
        "BEGIN TRANSACTION",
        "end",
        "commit",
        "do $$ begin perform 1; end $$",
        "create function f() returns int as $$ begin return 1; end $$ language plpgsql",
        BODY,
        "create procedure p() begin atomic select 1; select case 1 when 1 then 2 end; end",
        "create function begin() returns int return 1",
        "create rule r as on insert to t do also (insert into a values (1); notify b)",
        "select :v::text, a[1:2]",
        "with begin as (select 1) select * from begin",
    ]
)
SEPARATORS = st.sampled_from([";", "; ", ";\n", " ;\n\n", ";;", "; -- a ; comment\n"])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.tuples(STATEMENTS, SEPARATORS), min_size=1, max_size=6))
def test_statements_joined_split_back_into_themselves(parts: list[tuple[str, str]]) -> None:
    sql = "".join(statement + separator for statement, separator in parts)
    found = [s.text for s in statements(sql)]
    assert len(found) == len(parts)
    for text, (statement, _) in zip(found, parts, strict=True):
        # a comment after a `;` opens the next statement's text
        assert text.removeprefix("-- a ; comment\n") == statement.strip()
    assert "".join(split(sql)) == sql


@settings(max_examples=500, deadline=None)
@given(
    sql=st.lists(
        st.sampled_from(
            [*"ab ;'\"$-/*()\\:e.\n", "begin", "atomic", "end", "case", "create function "]
        ),
        max_size=40,
    ).map("".join)
    | st.text(max_size=80)
)
def test_any_text_is_cut_whole_and_each_piece_stays_one(sql: str) -> None:
    pieces = split(sql)
    assert "".join(pieces) == sql
    for piece in pieces:
        assert split(piece) == [piece]
        assert len(statements(piece)) <= 1


@settings(max_examples=300, deadline=None)
@given(
    body=st.lists(st.sampled_from(["select 1", "select case 1 when 1 then 2 end", ""]), max_size=4),
    tail=st.sampled_from(["", ";", "; select 2", ";\nselect 2;"]),
)
def test_a_body_ends_at_its_own_end(body: list[str], tail: str) -> None:
    routine = "create function f() returns int begin atomic " + "".join(f"{s}; " for s in body)
    sql = routine + "end" + tail
    assert statements(sql)[0].text == routine + "end"
    assert len(statements(sql)) == (2 if "select 2" in tail else 1)
