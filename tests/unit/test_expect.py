"""Honest comparisons (SPEC.md "Checks compare honestly"): every kind of value a query
returns against every operator, NULL and no row pass only `expect: null`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from migrator.plan.expect import (
    NO_ROW_DETAIL,
    NULL_DETAIL,
    Comparison,
    EqualsQuery,
    ExpectationError,
    compare_rows,
    judge,
    kind_of,
    parse_expectation,
)

NO_ROW = object()  # the query returned no row at all

# What the query returned, then the verdict for each expectation in the order of EXPECTS:
# P passes, . fails.
# fmt: off
EXPECTS = ["null", "!= null", "== 0", "!= 0", "> 0", ">= 1", "< 2", "<= 1", "1", "true", "!= true",
           "'1'"]
TABLE: list[tuple[Any, str]] = [
    # one character per expectation of EXPECTS, in order
    (NO_ROW,           "P..........."),
    (None,             "P..........."),
    (True,             ".P.......P.."),
    (False,            ".P........P."),
    (1,                ".P.PPPPPP..."),
    (0,                ".PP...PP...."),
    (Decimal("1"),     ".P.PPPPPP..."),
    (Decimal("1.5"),   ".P.PPPP....."),
    (1.0,              ".P.PPPPPP..."),
    ("1",              ".P.........P"),
    (date(2024, 1, 1), ".P.........."),
]
# fmt: on


def expectation(text: str) -> Comparison:
    import yaml

    # As a plan writes it: `expect: "!= 0"` (a string with an operator), `expect: 1`, `expect: '1'`.
    parsed = parse_expectation(text if text[0] in "<>=!" else yaml.safe_load(text))
    assert isinstance(parsed, Comparison)
    return parsed


@pytest.mark.parametrize(("actual", "verdicts"), TABLE, ids=[repr(a) for a, _ in TABLE])
def test_every_kind_of_value_against_every_operator(actual: Any, verdicts: str) -> None:
    for text, verdict in zip(EXPECTS, verdicts, strict=True):
        passes = verdict == "P"
        no_row = actual is NO_ROW
        outcome = judge(expectation(text), None if no_row else actual, no_row=no_row)
        assert outcome.passed is passes, f"{actual!r} against expect: {text}"
        value = expectation(text).value
        if not outcome.passed and (no_row or actual is None or kind_of(actual) != kind_of(value)):
            assert outcome.detail, f"{actual!r} against {text}: says why it could not pass"


@pytest.mark.parametrize("text", EXPECTS[1:])
def test_no_row_and_null_say_which_they_were(text: str) -> None:
    assert judge(expectation(text), None, no_row=True).detail == NO_ROW_DETAIL
    assert judge(expectation(text), None).detail == NULL_DETAIL
    assert judge(expectation(text), None, no_row=True).actual is None


def test_a_kind_mismatch_names_both_kinds() -> None:
    detail = judge(expectation("true"), 1).detail
    assert "the query returned a number (1) and expect is a boolean" in detail
    assert "a text ('1')" in judge(expectation("1"), "1").detail
    assert "a date (2024-01-01)" in judge(expectation("'2024-01-01'"), date(2024, 1, 1)).detail


def test_numbers_compare_across_int_decimal_and_float() -> None:
    assert judge(expectation("0.1"), Decimal("0.1")).passed
    assert judge(expectation("== 3"), 3.0).passed
    assert judge(expectation("> 2.5"), Decimal("3")).passed
    assert not judge(expectation("> 2.5"), Decimal("2.5")).passed


def test_ordering_a_non_number_fails_with_a_reason_when_built_by_a_plugin() -> None:
    assert Comparison(">", "a").verdict("b") == (False, "'>' compares numbers, not text")


def test_test_is_the_verdict_without_its_detail() -> None:
    assert Comparison("!=", 0).test(5)
    assert not Comparison("!=", 0).test(None)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select 1; select 2", "takes one query (SELECT, VALUES, TABLE or WITH), not 2 statements"),
        ("delete from t returning *", "takes a query (SELECT, VALUES, TABLE or WITH), not `delete"),
        ("  ", "needs the SQL of a query"),
        ("-- only a comment", "not 0 statements"),
    ],
)
def test_equals_query_takes_one_query(sql: str, message: str) -> None:
    with pytest.raises(ExpectationError, match="equals_query") as caught:
        parse_expectation({"equals_query": sql})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "sql",
    [
        "select 1;",
        "/* c */ with x as (select 1) select * from x",
        "values (1)",
        "table t",
        "(select 1)",
    ],
)
def test_equals_query_accepts_queries(sql: str) -> None:
    assert parse_expectation({"equals_query": sql}) == EqualsQuery(sql)


def test_compare_rows_holds_json_values() -> None:
    assert compare_rows([({"a": 1}, [1])], [({"a": 1}, [1])]) is None
    assert "only in equals_query" in (compare_rows([({"a": 1},)], [({"a": 2},)]) or "")


@pytest.mark.parametrize(
    ("raw", "actual", "passes"),
    [
        # beyond a float's 53 bits: compared exactly (a review's find)
        ("> 100000000000000000", Decimal("100000000000000000.5"), True),
        (9007199254740992, Decimal("9007199254740992.5"), False),
        (0.1, Decimal("0.1"), True),
        ("!= 1", Decimal("NaN"), True),
        ("== 1", Decimal("NaN"), False),
        ("> 1", Decimal("NaN"), False),
    ],
)
def test_numbers_compare_exactly(raw: Any, actual: Any, passes: bool) -> None:
    assert parse_expectation(raw).verdict(actual)[0] is passes
