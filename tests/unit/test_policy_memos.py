"""A policy as data (plugins/migrator_policy): roles as a plan writes them and as a memo
keeps them, one SQL expression, memos read back, and the difference an undo names."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.plugin import NotAsLeft
from migrator_policy.definition import (
    Definition,
    MemoError,
    PolicyMemo,
    RlsMemo,
    Role,
    differences,
    plan_role,
    plan_role_sql,
    read_memo,
    restore_sql,
)
from migrator_policy.expression import one_expression


@pytest.mark.parametrize(
    ("entry", "sql"),
    [
        ("public", "PUBLIC"),
        ("Public", "PUBLIC"),  # unquoted: folded, as PostgreSQL folds it
        ("current_user", "CURRENT_USER"),
        ("Session_User", "SESSION_USER"),
        ('"Public"', '"Public"'),  # quoted: that role, exactly
        ('"public"', '"public"'),
        ('"CURRENT_USER"', '"CURRENT_USER"'),
        ('"we""ird role"', '"we""ird role"'),
        ("authenticated", '"authenticated"'),
        ('we"ird role', '"we""ird role"'),  # unquoted text: a name as written
        ('x"; drop table t; --', '"x""; drop table t; --"'),
    ],
)
def test_a_plan_role_is_a_keyword_or_a_quoted_name(entry: str, sql: str) -> None:
    assert plan_role_sql(entry) == sql


@pytest.mark.parametrize("entry", ["", '"', '""', '"a"b"', '"Public', '"a""'])
def test_a_badly_quoted_plan_role_is_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        plan_role(entry)


def test_a_memo_role_is_public_or_a_name_never_sql() -> None:
    assert Role(public=True).sql() == "PUBLIC"
    assert Role(name="Public").sql() == '"Public"'
    assert Role(name="PUBLIC").sql() == '"PUBLIC"'
    assert Role(name='we"ird role').sql() == '"we""ird role"'
    for bad in ({}, {"public": True, "name": "x"}, {"name": ""}, {"name": "a\0b"}):
        with pytest.raises(ValueError):
            Role.model_validate(bad)


@pytest.mark.parametrize(
    "expression",
    [
        "true",
        "(owner = auth.uid())",
        "((x > 0) AND ((x)::text ~ '\\d'::text))",
        "(owner = ANY (ARRAY['a;b'::text, 'c)'::text, 'it''s'::text]))",
        "(\"we;ird)\" = E'a\\\\b\\'c''d')",  # E'...': \\ a backslash, \' and '' quotes
        "(note ~~ '%--%'::text)",
        "(note = '/* not a comment */'::text)",
        '("a""b" IS NULL)',
        "(x = U&'\\0041')",
    ],
)
def test_one_expression_accepts_what_the_server_deparses(expression: str) -> None:
    assert one_expression(expression) is None


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("true); create table pwned (x int); --", "a `)` closes more than it opened"),
        ("true) with check (false", "a `)` closes more than it opened"),
        ("true; select 1", "it holds a `;` outside quotes"),
        ("(true", "a `(` is not closed"),
        ("true --", "it holds a comment"),
        ("true /* x */", "it holds a comment"),
        ("'unterminated", "a quoted string is not closed"),
        ("'a' || 'b", "a quoted string is not closed"),
        ('"unterminated', "a quoted identifier is not closed"),
        ("E'\\') or (true", "a quoted string is not closed"),  # \' inside E'' is a quote
        ("$$x$$", "it holds a `$` outside quotes"),
        ("$1", "it holds a `$` outside quotes"),
        ("a \\ b", "it holds a `\\` outside quotes"),
        ("1e'\\''", "a string right after a number and an e is ambiguous"),
        ("", "it is empty"),
        ("  ", "it is empty"),
        ("a\0", "it holds NUL"),
    ],
)
def test_one_expression_refuses_what_could_end_its_parentheses(
    expression: str, problem: str
) -> None:
    assert one_expression(expression) == problem


def test_a_plain_string_keeps_its_backslash_and_e_after_a_name_is_no_escape() -> None:
    # standard_conforming_strings: '\' is a string of one backslash; "xe" is a name
    assert one_expression("(a = '\\') and (b = xe'\\')") is None
    assert one_expression("a = '\\') or (true") == "a `)` closes more than it opened"


def definition(**changes: Any) -> Definition:
    fields: dict[str, Any] = {
        "command": "SELECT",
        "permissive": True,
        "roles": [{"name": "Public"}, {"name": 'we"ird role'}],
        "using": "(owner = auth.uid())",
        "with_check": None,
    }
    return Definition.model_validate({**fields, **changes})


def test_a_definition_is_restored_from_its_fields_quoted() -> None:
    assert restore_sql("public", "t", 'p"q', definition()) == (
        'CREATE POLICY "p""q" ON "public"."t" AS PERMISSIVE FOR SELECT '
        'TO "Public", "we""ird role" USING ((owner = auth.uid()))'
    )
    with pytest.raises(MemoError, match=r"holds a `using` that is not one SQL expression"):
        restore_sql("public", "t", "p", definition(using="true); drop table t; --"))


def test_a_memo_is_read_strictly() -> None:
    left = definition().model_dump()
    memo = {"schema": "public", "table": "t", "name": "p", "previous": None, "left": left}
    assert read_memo(PolicyMemo, memo).left == definition()
    for bad, field in (
        ({**memo, "previous": {**left, "command": "ALL TO PUBLIC"}}, "previous.command"),
        ({**memo, "previous": {**left, "permissive": "true"}}, "previous.permissive"),
        ({**memo, "previous": {**left, "roles": ["public"]}}, "previous.roles.0"),
        ({**memo, "name": ["p"]}, "name"),
        ({**memo, "extra": 1}, "extra"),
        ({k: v for k, v in memo.items() if k != "table"}, "table"),
        ("a string", "the memo"),
    ):
        with pytest.raises(MemoError, match=rf"\({field}: .*\); nothing was executed"):
            read_memo(PolicyMemo, bad)
    with pytest.raises(MemoError):
        read_memo(RlsMemo, {"schema": "public", "table": "t", "enabled": 1, "forced": False})


def test_a_memo_of_the_earlier_format_has_roles_as_text() -> None:
    previous = {**definition().model_dump(), "roles": ["Public", "public", 'we"ird role']}
    memo = {"schema": "public", "table": "t", "name": "p", "previous": previous}
    read = read_memo(PolicyMemo, memo)
    assert read.left is None
    assert read.previous is not None
    assert [r.sql() for r in read.previous.roles] == ['"Public"', "PUBLIC", '"we""ird role"']


def test_the_differences_name_each_field_in_words() -> None:
    left = definition()
    assert differences(left, left) == []
    assert differences(None, left) == ["it is gone (dropped or renamed)"]
    now = definition(
        command="ALL",
        permissive=False,
        roles=[{"public": True}],
        using="true",
        with_check="(v > 0)",
    )
    assert differences(now, left) == [
        "its command is ALL, the step left SELECT",
        "it is RESTRICTIVE, the step left it PERMISSIVE",
        'its roles are PUBLIC, the step left "Public", "we""ird role"',
        "using is `true`, the step left `(owner = auth.uid())`",
        "with check is `(v > 0)`, the step left none",
    ]


def test_not_as_left_names_the_object_and_keeps_the_differences() -> None:
    error = NotAsLeft('policy "p" on public.t', ["using is `true`, the step left `(v > 0)`"])
    assert str(error) == (
        'policy "p" on public.t is not as its step left it: using is `true`, the step left '
        "`(v > 0)`; the undo changed nothing"
    )
    assert error.memo == {
        "object": 'policy "p" on public.t',
        "differences": ["using is `true`, the step left `(v > 0)`"],
    }
