"""`expect: {equals_query: SQL}` compared in the database: every column type, multisets,
readable differences, and nothing but one query on each side."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from migrator.db.target import Target, connect_engine
from migrator.masking import Secrets
from migrator.plugin import CheckOutcome
from migrator.views.differences import difference_lines
from migrator_sql import same_rows
from tests.plans import phased

Compare = Callable[..., CheckOutcome]


@pytest.fixture
def compare(database: str, sql: Any) -> Iterator[Compare]:
    """Compare two queries as a check does: in one REPEATABLE READ transaction, rolled back."""
    engine = connect_engine(Target(database, "--dsn"))

    def run(
        left: str, right: str, shorten: Callable[..., str] | None = None, **variables: Any
    ) -> CheckOutcome:
        with engine.connect() as conn, conn.begin() as tx:
            conn.execute(text("set transaction isolation level repeatable read, read only"))
            try:
                return same_rows.compare(conn, left, right, variables, shorten)
            finally:
                tx.rollback()

    yield run
    engine.dispose()


def test_the_same_rows_in_another_order_pass(compare: Compare) -> None:
    outcome = compare("values (1, 'a'), (2, 'b')", "values (2, 'b'), (1, 'a')")
    assert outcome == CheckOutcome(True, "2 rows", "the same 2 rows", "")


def test_zero_rows_on_both_sides_pass(compare: Compare) -> None:
    assert compare("select 1 where false", "select 2 where false").passed


def test_duplicates_count_as_in_a_multiset(compare: Compare) -> None:
    outcome = compare("values (1), (1), (2)", "values (1), (2), (2)")
    assert not outcome.passed
    assert outcome.detail == (
        "3 rows against 3; 1 row only in the check's query; 1 row only in equals_query"
    )
    assert outcome.differences == (
        {"only_in": "query", "key": [{"name": "column1", "value": 1}], "row": []},
        {"only_in": "equals_query", "key": [{"name": "column1", "value": 2}], "row": []},
    )
    assert difference_lines(outcome.differences) == [
        "column1 1: only in the check's query",
        "column1 2: only in equals_query",
    ]


def test_nulls_are_the_same_as_nulls(compare: Compare) -> None:
    assert compare("select null::int, 'a'", "select null::int, 'a'").passed
    outcome = compare("select null::int", "select 0")
    assert difference_lines(outcome.differences) == [
        "int4 NULL: only in the check's query",  # a NULL key pairs with nothing
        "int4 0: only in equals_query",
    ]


@pytest.mark.parametrize(
    ("column", "same", "different"),
    [
        ("jsonb", """'{"a": [1, 2], "b": null}'""", """'{"a": [2, 1], "b": null}'"""),
        ("int[]", "'{1,2,3}'", "'{1,2}'"),
        ("text[]", "'{a,NULL}'", "'{a,b}'"),
        ("json", """'{"b": 1,  "a": 2}'""", """'{"a": 2, "b": 3}'"""),
        ("point", "'(1,2)'", "'(2,1)'"),
        ("json[]", """array['{"a": 1}'::json]""", """array['{"a": 2}'::json]"""),
        ("numeric", "1.0", "1.01"),
        ("interval", "'1 day'", "'25 hours'"),
    ],
)
def test_every_column_type_compares(
    compare: Compare, sql: Any, column: str, same: str, different: str
) -> None:
    sql(f"create table l (id int, v {column}); create table r (id int, v {column})")
    sql(f"insert into l values (1, {same}), (2, {same}), (3, null)")
    sql(f"insert into r values (2, {same}), (1, {same}), (3, null)")
    assert compare("select id, v from l", "select id, v from r").passed
    sql(f"update r set v = {different} where id = 2")
    outcome = compare("select id, v from l", "select id, v from r")
    assert not outcome.passed
    assert "1 row only in the check's query; 1 row only in equals_query" in outcome.detail
    [paired] = outcome.differences  # the two rows of id 2, paired by their first column
    assert paired["key"] == [{"name": "id", "value": 2}]
    assert [c["name"] for c in paired["columns"]] == ["v"]
    assert difference_lines(outcome.differences)[0].startswith("id 2: v ")


def test_json_compares_as_jsonb_whitespace_and_key_order_aside(compare: Compare) -> None:
    assert compare("""select '{"b": 1, "a": 2}'::json""", """select '{"a":2,"b":1}'::json""").passed


def test_a_composite_with_a_json_field_compares(compare: Compare) -> None:
    left = """select row(1, '{"a": 1}'::json)"""
    assert compare(left, left).passed
    assert not compare(left, """select row(1, '{"a": 2}'::json)""").passed


def test_an_interval_compares_by_its_own_equality(compare: Compare) -> None:
    assert compare("select interval '1 day'", "select interval '24 hours'").passed


def test_different_types_compare_as_json_numbers_by_value_text_is_not_a_number(
    compare: Compare,
) -> None:
    assert compare("select 1::int", "select 1::bigint").passed
    assert compare("select 1::int", "select 1.0::numeric").passed
    outcome = compare("select 1::int as n", "select '1'::text as n")
    assert not outcome.passed
    assert outcome.differences == (  # a number and a text: two keys that do not pair
        {"only_in": "query", "key": [{"name": "n", "value": 1}], "row": []},
        {"only_in": "equals_query", "key": [{"name": "n", "value": "1"}], "row": []},
    )


def test_xml_compares_as_text(compare: Compare, sql: Any) -> None:
    try:
        sql("select '<a/>'::xml")
    except Exception as exc:  # a server built without libxml stores no xml value
        pytest.skip(f"this PostgreSQL has no XML support: {exc}")
    assert compare("select '<a>1</a>'::xml", "select '<a>1</a>'::xml").passed
    assert not compare("select '<a>1</a>'::xml", "select '<a>2</a>'::xml").passed


def test_an_xml_column_without_values_compares(compare: Compare) -> None:
    # whatever the server's XML support, a column of type xml plans and compares
    assert compare("select null::xml", "select null::xml").passed
    assert not compare("select null::xml where false", "select null::xml").passed


def test_column_names_do_not_matter_positions_do(compare: Compare) -> None:
    assert compare("select 1 as a, 2 as b", "select 1 as x, 2 as y").passed
    assert not compare("select 1 as a, 2 as b", "select 2 as b, 1 as a").passed


def test_the_same_column_name_twice_is_two_columns(compare: Compare) -> None:
    assert not compare("select 1 as a, 2 as a", "select 1 as a, 3 as a").passed


def test_different_column_counts_fail_readably(compare: Compare) -> None:
    outcome = compare("select 1 as id, 'x' as v", "select 1 as id")
    assert outcome == CheckOutcome(
        False,
        "2 columns: id, v",
        "1 column: id",
        "the check's query returns 2 columns and equals_query 1: "
        "rows of different widths are never the same",
    )


def test_many_differences_show_the_first_three_and_the_count(compare: Compare) -> None:
    outcome = compare("select g from generate_series(1, 10) g", "select 1")
    assert outcome.actual == "10 rows" and outcome.expected == "the same 1 row"
    assert outcome.detail == (
        "10 rows against 1; 9 rows only in the check's query (the first 3 differences shown)"
    )
    shown = [d["key"][0]["value"] for d in outcome.differences]
    assert len(shown) == 3 and set(shown) <= set(range(2, 11))


def test_parameters_are_bound(compare: Compare) -> None:
    assert compare("select :n::int", "select 7", n=7).passed
    assert not compare("select :n::int", "select 7", n=8).passed


def test_a_query_ending_in_a_comment_is_still_one_query(compare: Compare) -> None:
    assert compare("select 1 -- the one\n", "select 1; -- the same").passed


@pytest.mark.parametrize(
    ("left", "message"),
    [
        ("select 1; select 2", "the check's query has 2 statements"),
        ("show work_mem", "the check's query is not one (SELECT, VALUES, TABLE or WITH)"),
    ],
)
def test_the_check_query_must_be_one_query(compare: Compare, left: str, message: str) -> None:
    outcome = compare(left, "select 1")
    assert not outcome.passed
    assert message in outcome.detail


def test_an_equals_query_of_two_statements_is_rejected_at_validate(
    migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(
        phased(
            "two",
            ["{sql: select 1}"],
            pre_checks=["query: select 1\nexpect:\n  equals_query: select 1; select 2"],
        )
    )
    result = migrator("validate", plan)
    assert result.code == 2
    assert "plan.yaml:10:11: transitions[0].pre_checks[0].expect" in result.out + result.err
    assert "equals_query takes one query (SELECT, VALUES, TABLE or WITH), not 2 statements" in (
        result.out + result.err
    )


def test_a_long_or_multi_line_value_is_shown_on_one_line_and_cut(compare: Compare) -> None:
    outcome = compare("select 'one\ntwo' as t, repeat('x', 200) as long", "select 'a', 'b'")
    full, cut = difference_lines(outcome.differences), difference_lines(outcome.differences, 80)
    assert full[0] == "t one\\ntwo: only in the check's query (long: " + "x" * 200 + ")"
    assert len(cut[0]) <= 80 and cut[0].startswith("t one\\ntwo: only in the check's query")
    assert outcome.differences[0]["row"] == [{"name": "long", "value": "x" * 200}]  # all of it


TYPES = [
    "1::int2",
    "1::int8",
    "1.5::float4",
    "'NaN'::float8",
    "'NaN'::numeric",
    "1::money",
    "'a'::char(3)",
    "'a'::varchar",
    "'a'::name",
    "'\\x00ff'::bytea",
    "true",
    "'b'::\"char\"",
    "now()::date",
    "now()::time",
    "now()::timetz",
    "now()",
    "now()::timestamp",
    "interval '1 day'",
    "gen_random_uuid()",
    "'10.0.0.1'::inet",
    "'10.0.0.0/8'::cidr",
    "'08:00:2b:01:02:03'::macaddr",
    "'08:00:2b:01:02:03:04:05'::macaddr8",
    "B'101'",
    "B'101'::varbit",
    "'a b'::tsvector",
    "'a & b'::tsquery",
    "'[1,5)'::int4range",
    "'{[1,5)}'::int4multirange",
    "'0/16B3748'::pg_lsn",
    "'pg_class'::regclass",
    "'int4'::regtype",
    "1::oid",
    "'42'::xid",
    "'42'::xid8",
    "'(0,1)'::tid",
    "'1'::cid",
    "'1 2'::int2vector",
    "'1 2'::oidvector",
    "'$.a'::jsonpath",
    "'{\"a\":1}'::json",
    "'{\"a\":1}'::jsonb",
    "point(1, 2)",
    "'{1,2,3}'::line",
    "'(1,2),(3,4)'::lseg",
    "'(1,2),(3,4)'::box",
    "'((1,2),(3,4))'::path",
    "'((1,2),(3,4),(5,6))'::polygon",
    "'<(1,2),3>'::circle",
    "row(1, 'a')",
    "row(1, '{}'::json)",
    "array[point(1, 2)]",
    "array[array[1, 2], array[3, 4]]",
    "array['{}'::json]",
    "array[row(1, 2)]",
    "pg_current_snapshot()",
    "txid_current_snapshot()",
    "'(0,0)'::point",
    "null::xml",
    "'a'::text collate \"C\"",
    "'mood_ok'::mood",
    "'{mood_ok}'::mood[]",
    "1::positive",
    "'{}'::doc",
    "array[1::positive]",
    "'[1,2]'::floatrange",
]


def test_a_value_of_any_type_equals_itself_and_not_a_null(compare: Compare, sql: Any) -> None:
    """Each type's value, compared with itself (passes) and with a NULL (fails): no type
    is left without a way to compare (one database for all: each costs a comparison)."""
    sql(
        "create type mood as enum ('mood_ok', 'mood_bad');"
        "create domain positive as int check (value > 0);"
        "create domain doc as json;"
        "create type floatrange as range (subtype = float8, subtype_diff = float8mi)"
    )
    wrong = []
    for value in TYPES:
        stable = value.replace("now()", "'2024-05-06 07:08:09+00'::timestamptz")
        stable = stable.replace("gen_random_uuid()", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid")
        same = compare(f"select {stable} as v", f"select {stable} as v")
        if not same.passed:
            wrong.append(f"{value} against itself: {same.detail}")
        if value != "null::xml" and compare(f"select {stable}", "select null::int").passed:
            wrong.append(f"{value} equals NULL")
    assert wrong == []


def test_a_check_query_of_two_statements_with_equals_query_is_rejected_at_validate(
    migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(
        phased(
            "two",
            ["{sql: select 1}"],
            pre_checks=["query: select 1; select 2\nexpect: {equals_query: select 1}"],
        )
    )
    result = migrator("validate", plan)
    assert result.code == 2
    assert (
        "plan.yaml:9:17: transitions[0].pre_checks[0].expect: `query` (compared with "
        "equals_query) takes one query (SELECT, VALUES, TABLE or WITH), not 2 statements"
    ) in result.out
    # a query check of several statements is fine with any other expectation
    plain = write_plan(
        phased("two", ["{sql: select 1}"], pre_checks=["query: select 1; select 2\nexpect: 2"]),
        "plain.yaml",
    )
    assert migrator("validate", plain).code == 0


def test_a_composite_key_pairs_rows_on_its_columns_never_on_the_first_alone(
    compare: Compare, sql: Any
) -> None:
    sql("create table l (t int, id int, v text); create table r (t int, id int, v text)")
    sql("insert into l values (1, 1, 'a'), (1, 2, 'b'), (1, 3, 'dup2'), (2, 1, 'c')")
    sql("insert into r values (1, 1, 'x'), (1, 2, 'b'), (2, 1, 'c')")
    outcome = compare("select t, id, v from l", "select t, id, v from r")
    # t 1 is found twice among the check's rows the other lacks: (t, id) pairs them
    assert difference_lines(outcome.differences) == [
        "t 1, id 1: v a vs x",
        "t 1, id 3: only in the check's query (v: dup2)",
    ]


def test_a_first_column_found_twice_on_a_side_pairs_nothing_on_it(compare: Compare) -> None:
    outcome = compare("values (1, 'a'), (1, 'b')", "values (1, 'c'), (2, 'b')")
    # (1, a) with (1, c), or (1, b)? no key tells: each row on its own
    assert sorted(difference_lines(outcome.differences)) == [
        "column1 1: only in equals_query (column2: c)",
        "column1 1: only in the check's query (column2: a)",
        "column1 1: only in the check's query (column2: b)",
        "column1 2: only in equals_query (column2: b)",
    ]


def test_a_long_value_is_kept_cut_in_the_difference_and_masked(compare: Compare) -> None:
    secrets = Secrets()
    secrets.add("s3cret-token")
    query = "select 1 as id, repeat('x', 99988) || 's3cret-token' as v"
    [paired] = compare(query, "select 1, 'y'").differences
    assert paired["columns"][0]["expected"] == "y"
    actual = paired["columns"][0]["actual"]
    assert len(actual) == same_rows.KEPT
    assert actual == "x" * (same_rows.KEPT - 31) + "… (cut from 100,000 characters)"
    query = "select 1 as id, 's3cret-token' || repeat('x', 2100)"
    [paired] = compare(query, "select 1, 'y'", shorten=secrets.shorten).differences
    actual = paired["columns"][0]["actual"]  # the check context's shorten: masked, then cut
    assert len(actual) == same_rows.KEPT and actual.endswith("… (cut from 2,112 characters)")
    assert actual.startswith("***xxx") and "s3cret" not in actual
