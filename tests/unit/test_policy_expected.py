"""A plan's expected policy expression (`policy_exists` `using`/`with_check`) must be one
SQL expression before the server reads it: what USING (...) takes, nothing more."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from migrator_policy.expression import expected_expression
from migrator_policy.policy import PolicyExpectation


@pytest.mark.parametrize(
    "expression",
    [
        "a = x and b = 'y'",
        "status in ('draft', 'review')",
        "coalesce(status, 'draft') <> 'gone'",
        "created_at > now() - interval '7 days'",
        "ts > timestamp with time zone '2020-01-01'",  # WITH outside parentheses
        "a is distinct from b",  # FROM outside parentheses
        "org_id in (select m.org_id from members m where m.user_id = auth.uid())",
        "exists (select 1 from members m where m.org_id = docs.org_id)",
        "tags @> array['a', 'b']",  # a `,` inside brackets
        "arr[1:2] = other",  # a slice, no plan variable
        "x::text = 'a,b'",
        "(select true)",
        "a$b = 1",  # `$` inside an identifier, as PostgreSQL reads it
        "x$1 = 2",
        "_x$$ = 1",
        "é$ = 1",
        "substring(title from 1 for 2) = 'ab'",  # FOR, no locking clause
    ],
)
def test_one_expression_is_accepted(expression: str) -> None:
    assert expected_expression(expression) is None


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("true) or (select pg_sleep(1)", "a `)` closes more than it opened"),
        ("1; drop table x", "it holds a `;` outside quotes"),
        ("true -- x", "it holds a comment"),
        ("select pg_sleep(1)", "it begins with SELECT: a query, not an expression"),
        ("with x as (select 1) select true", "it begins with WITH: a query, not an expression"),
        ("values (true)", "it begins with VALUES: a query, not an expression"),
        (
            "(select true) union (select false)",
            "it holds UNION outside parentheses: a query, not an expression",
        ),
        (
            "true, (select pg_sleep(1))",
            "it is a list (a `,` outside parentheses), not one expression",
        ),
        ("owner = :who", "it holds the plan variable `:who`: a policy holds none"),
        ("", "it is empty"),
        ("owner = $1", "it holds a `$` outside quotes"),
        ("$$x$$ = a", "it holds a `$` outside quotes"),
        ("$q$x$q$ = a", "it holds a `$` outside quotes"),
        ("1$ = 1", "it holds a `$` outside quotes"),
        ('"a"$b = 1', "it holds a `$` outside quotes"),
        (
            "exists (select 1 from m for update)",
            "it holds a locking clause (FOR UPDATE): it would lock rows",
        ),
        (
            "exists (select 1 from m for no key update)",
            "it holds a locking clause (FOR NO KEY UPDATE): it would lock rows",
        ),
        (
            "exists (select 1 from m FOR SHARE)",
            "it holds a locking clause (FOR SHARE): it would lock rows",
        ),
        (
            "exists (select 1 from m for key share of m)",
            "it holds a locking clause (FOR KEY SHARE): it would lock rows",
        ),
    ],
)
def test_anything_else_is_refused_naming_why(expression: str, problem: str) -> None:
    assert expected_expression(expression) == problem


@pytest.mark.parametrize("key", ["using", "with_check"])
def test_the_plan_is_refused_at_validation(key: str) -> None:
    with pytest.raises(ValidationError, match="not one SQL expression: it holds a `;`"):
        PolicyExpectation.model_validate({"table": "t", "name": "p", key: "true; select 1"})
    assert PolicyExpectation.model_validate({"table": "t", "name": "p", key: "a = 1"})
