"""The undo of a policy or an RLS switch restores exactly what was there, only if the
object is still as its step left it, and is rebuilt from the memo's fields: an edited
memo in the audit trail is never executed (SPEC.md, Guarantees)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import forge_chain
from tests.plans import hotfix

ROLES = ["Public", 'we"ird role', "CURRENT_USER", "authenticated"]
"""Roles on the shared test server (created once, kept): names a keyword match would
read as PUBLIC or CURRENT_USER, and one that needs quoting."""

SNAPSHOT = (
    "select polname, polroles::int8[], polcmd::text, polpermissive, "
    "pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid) "
    "from pg_policy where polrelid = 'public.t'::regclass order by polname"
)
RLS = "select relrowsecurity, relforcerowsecurity from pg_class where oid = 'public.t'::regclass"
PWNED = "select to_regclass('public.pwned') is null"


@pytest.fixture
def table(sql: Any) -> None:
    for role in ROLES:
        name = role.replace('"', '""')
        sql(
            f'do $$ begin create role "{name}" nologin; '
            "exception when duplicate_object then null; end $$"
        )
    sql("create table t (owner text, v int); alter table t enable row level security")


def replace(name: str, using: str, *, plan: str = "x", to: str = "public") -> str:
    """A hotfix plan whose one step replaces policy p of table t."""
    return hotfix(
        plan,
        [f"name: {name}\npolicy: {{table: t, name: p, to: {to}, using: {json.dumps(using)}}}"],
    )


def memo_of(sql: Any, plan: str) -> dict[str, Any]:
    (row,) = sql(
        "select e.detail->'memo' from migrator.events e join migrator.runs r on r.id = e.run_id "
        "where r.plan = %s and e.kind = 'step' and e.status = 'done'",
        plan,
    )
    return dict(row[0])


def edit_memo(sql: Any, plan: str, memo: dict[str, Any]) -> None:
    """Rewrite the memo a plan's step recorded, as someone with write access could, and
    forge the audit trail's chain over it: what stands in the way is the undo's own check
    (the chain alone refuses the edit with exit 2: tests/integration/test_audit_tampering.py)."""
    sql(
        "update migrator.events e set detail = jsonb_set(e.detail, '{memo}', %s::jsonb) "
        "from migrator.runs r where r.id = e.run_id and r.plan = %s "
        "and e.kind = 'step' and e.status = 'done'",
        json.dumps(memo),
        plan,
    )
    forge_chain(sql)


@pytest.mark.parametrize(
    "roles",
    [
        '"Public", "we""ird role"',
        "PUBLIC",
        '"CURRENT_USER", "Public", authenticated, "we""ird role"',
        'public, "Public"',
    ],
)
def test_a_policy_comes_back_exactly_roles_included(
    migrator: Any, write_plan: Any, sql: Any, table: None, roles: str
) -> None:
    sql(
        f"create policy p on t as restrictive for update to {roles} "
        "using (owner = current_user and v::text ~ '\\d+$') with check (v > 0)"
    )
    before = sql(SNAPSHOT)
    plan = write_plan(replace("open it", "true"))
    assert migrator("apply", plan).code == 0
    assert sql(SNAPSHOT) != before
    result = migrator("rollback", plan)
    assert result.code == 0, result.out
    assert sql(SNAPSHOT) == before


@pytest.mark.parametrize(
    ("to", "names"),
    [
        ("Public", ["PUBLIC"]),  # unquoted: the keyword, as in SQL
        ("'\"Public\"'", ["Public"]),  # in double quotes: the role named Public
        ("[public, '\"CURRENT_USER\"']", ["PUBLIC"]),  # PostgreSQL keeps PUBLIC alone
        ('[\'"we""ird role"\', authenticated]', ['we"ird role', "authenticated"]),
        ("'we\"ird role'", ['we"ird role']),  # unquoted text is a name as written
    ],
)
def test_a_plan_tells_the_keyword_from_a_role_named_so_and_the_undo_drops_its_policy(
    migrator: Any, write_plan: Any, sql: Any, table: None, to: str, names: list[str]
) -> None:
    plan = write_plan(replace("create it", "owner = current_user", to=to))
    result = migrator("apply", plan)
    assert result.code == 0, result.out
    roles = (
        "select array(select coalesce(a.rolname, 'PUBLIC') from unnest(polroles) "
        "with ordinality r(oid, n) left join pg_roles a on a.oid = r.oid order by n) "
        "from pg_policy"
    )
    assert sql(roles) == [(names,)]
    assert migrator("rollback", plan).code == 0
    assert sql(SNAPSHOT) == []


def test_an_undo_does_not_overwrite_a_later_change_and_settles_in_the_right_order(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    sql("create policy p on t for select to authenticated using (owner = current_user)")
    original = sql(SNAPSHOT)
    x = write_plan(replace("x replaces p", "v > 0", plan="x"), "x.yaml")
    y = write_plan(replace("y replaces p", "true", plan="y"), "y.yaml")
    assert migrator("apply", x).code == 0
    after_x = sql(SNAPSHOT)
    assert migrator("apply", y).code == 0
    after_y = sql(SNAPSHOT)

    refused = migrator("rollback", x)
    assert refused.code == 3, refused.out
    assert (
        'policy "p" on public.t is not as its step left it: using is `true`, '
        "the step left `(v > 0)`; the undo changed nothing"
    ) in refused.out
    assert sql(SNAPSHOT) == after_y  # y's policy stays
    (failed,) = sql(
        "select e.detail->>'error', e.detail->'memo'->'differences' from migrator.events e "
        "join migrator.runs r on r.id = e.run_id where r.plan = 'x' and e.status = 'failed'"
    )
    assert "using is `true`, the step left `(v > 0)`" in str(failed[0])
    assert failed[1] == ["using is `true`, the step left `(v > 0)`"]

    assert migrator("rollback", y).code == 0
    assert sql(SNAPSHOT) == after_x
    settled = migrator("rollback", x)  # finishes the rollback that failed
    assert settled.code == 0, settled.out
    assert sql(SNAPSHOT) == original


def test_an_rls_switch_changed_since_is_not_switched_back(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    plan = write_plan(hotfix("rls", ["rls: {table: t, enable: true, force: true}"]))
    assert migrator("apply", plan).code == 0
    sql("alter table t disable row level security")
    refused = migrator("rollback", plan)
    assert refused.code == 3, refused.out
    assert (
        "row level security of public.t is not as its step left it: it is disabled, forced, "
        "the step left it enabled, forced; the undo changed nothing"
    ) in refused.out
    assert sql(RLS) == [(False, True)]
    sql("alter table t enable row level security")  # as the step left it: the undo may go on
    assert migrator("rollback", plan).code == 0
    assert sql(RLS) == [(True, False)]


HOSTILE = "true); create table pwned (x int); --"
EDITS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "an expression": lambda m: {**m, "previous": {**m["previous"], "using": HOSTILE}},
    "a with check": lambda m: {**m, "previous": {**m["previous"], "with_check": "true)) or ((1"}},
    "a role's name": lambda m: {
        **m,
        "previous": {**m["previous"], "roles": [{"name": 'x"; create table pwned (x int); --'}]},
    },
    "a role given as SQL": lambda m: {**m, "previous": {**m["previous"], "roles": ["public"]}},
    "the command": lambda m: {
        **m,
        "previous": {**m["previous"], "command": "ALL TO PUBLIC USING (true); create table pwned"},
    },
    "the policy's name": lambda m: {**m, "name": 'p" on t; create table pwned (x int); --'},
    "a memo of the earlier format": lambda m: {
        "schema": m["schema"],
        "table": m["table"],
        "name": m["name"],
        "previous": {**m["previous"], "roles": ["public"], "using": HOSTILE},
    },
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_memo_edited_in_the_audit_trail_is_never_executed(
    migrator: Any, write_plan: Any, sql: Any, table: None, edit: str
) -> None:
    sql("create policy p on t for select to authenticated using (owner = current_user)")
    plan = write_plan(replace("open it", "true"))
    assert migrator("apply", plan).code == 0
    applied = sql(SNAPSHOT)
    edit_memo(sql, "x", EDITS[edit](memo_of(sql, "x")))
    result = migrator("rollback", plan)
    assert result.code == 3, result.out
    assert sql(PWNED) == [(True,)]
    assert sql(SNAPSHOT) == applied  # nothing was changed
    assert "undo open it (undo:policy): failed" in result.out


def earlier(memo: dict[str, Any]) -> dict[str, Any]:
    """`memo` as the version before structured roles wrote it: no `left`, roles as
    `pg_policies.roles` shows them (PUBLIC as `public`, sorted)."""
    previous = memo["previous"]
    roles = sorted(r.get("name") or "public" for r in previous["roles"])
    return {
        "schema": memo["schema"],
        "table": memo["table"],
        "name": memo["name"],
        "previous": {**previous, "roles": roles},
    }


def test_a_memo_of_the_earlier_format_is_undone_as_before_its_roles_exactly(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    sql('create policy p on t for select to "Public", "we""ird role" using (v > 1)')
    before = sql(SNAPSHOT)
    plan = write_plan(replace("open it", "true"))
    assert migrator("apply", plan).code == 0
    edit_memo(sql, "x", earlier(memo_of(sql, "x")))
    sql("alter policy p on t using (v > 2)")  # unchecked: the earlier memo has no `left`
    assert migrator("rollback", plan).code == 0
    (row,) = sql(SNAPSHOT)
    (was,) = before
    assert sorted(row[1]) == sorted(was[1])  # the earlier memo kept them sorted by name
    assert row[2:] == was[2:]


def test_hostile_names_in_an_earlier_memo_stay_names(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    sql("create policy p on t for select to authenticated using (owner = current_user)")
    plan = write_plan(replace("open it", "true"))
    assert migrator("apply", plan).code == 0
    name = 'p" on t; create table pwned (x int); --'
    edit_memo(sql, "x", {**earlier(memo_of(sql, "x")), "name": name})
    assert migrator("rollback", plan).code == 0
    assert sql(PWNED) == [(True,)]
    names = "select polname from pg_policy where polrelid = 't'::regclass order by polname"
    assert sql(names) == [("p",), (name,)]  # the earlier policy, under the name as written


def test_a_run_that_replaces_a_policy_twice_is_undone_through_both(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    sql("create policy p on t to public using (v = 0)")
    before = sql(SNAPSHOT)
    tricky = (
        "owner = any (array['a', E'b\\\\'c', 'd''e']) and v::text ~ '\\d' "
        "and (v in (1, 2, 3) or coalesce(owner, '(') like '%;%' or \"v\" is null)"
    )
    plan = write_plan(
        hotfix(
            "twice",
            [
                "name: first\npolicy: {table: t, name: p, to: '\"Public\"', using: "
                f"{json.dumps(tricky)}}}",
                "name: second\npolicy: {table: t, name: p, to: authenticated, using: 'true'}",
                "sql: select 1/0",
            ],
        )
    )
    result = migrator("apply", plan)
    assert result.code == 1, result.out  # the last step fails: both policy steps are undone
    assert sql(SNAPSHOT) == before


def test_a_refused_undo_can_be_skipped_on_purpose_keeping_the_later_change(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    x = write_plan(replace("x replaces p", "v > 0", plan="x"), "x.yaml")
    y = write_plan(replace("y replaces p", "true", plan="y"), "y.yaml")
    assert migrator("apply", x).code == 0
    assert migrator("apply", y).code == 0
    after_y = sql(SNAPSHOT)
    assert migrator("rollback", x).code == 3
    skipped = migrator("resume", x, "--skip", "undo x replaces p", "--reason", "y owns p now")
    assert skipped.code == 0, skipped.out
    assert sql(SNAPSHOT) == after_y
    assert sql(
        "select e.status, e.detail->>'reason' from migrator.events e join migrator.runs r "
        "on r.id = e.run_id where r.plan = 'x' and e.step = 'undo x replaces p' "
        "and e.status = 'skipped'"
    ) == [("skipped", "y owns p now")]


def test_a_memo_cannot_use_strings_read_the_old_way_to_end_its_expression(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    # With standard_conforming_strings off, '\'' ends after the second quote: what the
    # check reads as one string would be code and a comment. The undo sets it on.
    (database,) = sql("select current_database()")[0]
    sql(f'alter database "{database}" set standard_conforming_strings = off')
    sql("create policy p on t for select to authenticated using (owner = current_user)")
    plan = write_plan(replace("open it", "true"))
    assert migrator("apply", plan).code == 0
    applied = sql(SNAPSHOT)
    smuggled = "'\\'' = '''' ) ; create table pwned (x int) ; select 1 --'"
    memo = memo_of(sql, "x")
    edit_memo(sql, "x", {**memo, "previous": {**memo["previous"], "using": smuggled}})
    result = migrator("rollback", plan)
    assert result.code == 3, result.out
    assert sql(PWNED) == [(True,)]
    assert sql(SNAPSHOT) == applied


def test_an_undo_whose_table_is_gone_says_so(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    plan = write_plan(replace("open it", "true"))
    assert migrator("apply", plan).code == 0
    sql("alter table t rename to t2")
    result = migrator("rollback", plan)
    assert result.code == 3, result.out
    assert (
        'policy "p" on public.t is not as its step left it: its table is gone (dropped or '
        "renamed); the undo changed nothing"
    ) in result.out
    assert sql("select count(*) from pg_policy where polrelid = 't2'::regclass") == [(1,)]


def test_policy_exists_tells_the_keyword_from_a_role_named_so(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    sql('create policy p on t for select to "Public", "we""ird role" using (true)')

    def check(name: str, roles: str) -> tuple[int, str | None]:
        plan = write_plan(
            hotfix(
                name,
                ["sql: select 1"],
                pre_checks=[f"policy_exists: {{table: t, name: p, roles: {roles}}}"],
            ),
            f"{name}.yaml",
        )
        code = migrator("apply", plan).code
        (detail,) = sql(
            "select e.detail->>'detail' from migrator.events e join migrator.runs r "
            "on r.id = e.run_id where r.plan = %s and e.kind = 'check'",
            name,
        )[0]
        return code, detail

    assert check("quoted", """['"Public"', 'we"ird role']""") == (0, "")
    assert check("keyword", """[Public, 'we"ird role']""") == (
        1,
        'roles are "Public", we"ird role, not Public, we"ird role',
    )


def test_the_automatic_undo_of_a_failed_run_refuses_too(
    migrator: Any, write_plan: Any, sql: Any, table: None
) -> None:
    sql("create policy p on t to public using (v = 0)")
    plan = write_plan(
        hotfix(
            "auto",
            [
                "name: replace p\npolicy: {table: t, name: p, to: authenticated, using: v > 0}",
                "name: widen p\nsql: alter policy p on t using (true)",  # no rollback: stays
                "name: break\nsql: select 1/0",
            ],
        )
    )
    result = migrator("apply", plan)
    assert result.code == 3, result.out
    assert 'policy "p" on public.t is not as its step left it: using is `true`' in result.out
    assert "manual intervention needed" in result.out
    assert sql("select pg_get_expr(polqual, polrelid) from pg_policy") == [("true",)]
    assert sql("select status from migrator.runs") == [("undo_failed",)]
