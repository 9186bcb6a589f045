"""A policy's expression compared with a plan's, by PostgreSQL: never as text.

The server reads each side the way it reads a policy: over the policy's table, its
columns by name. Each is deparsed through a read-only

    EXPLAIN (VERBOSE, COSTS OFF, FORMAT JSON) SELECT (expression) FROM ONLY table WHERE false

which executes no query (planning it may run functions: see below) and takes an
AccessShareLock on the tables it names at most (a writer's RowExclusiveLock does not
conflict with it; an ACCESS EXCLUSIVE one makes it wait the check's lock wait, watched and
named as any check's). What the two plans hold is
compared whole: the expression as the server prints it (casts made explicit, names
qualified, `IN (...)` as `= ANY`, constants folded, SQL functions inlined) and every
SubPlan or InitPlan it became, with what each reads and filters (an `EXISTS(SubPlan 1)`
is told from another by its plan, not by its `Output:` line). Row level security the
check's role is subject to adds the same quals to both plans.

Two expressions are equal when PostgreSQL makes the same thing of them. The order of
AND and OR operands is kept: PostgreSQL's own deparse keeps it, and `a and b` is not
`b and a` (their operands are evaluated in that order), so they differ here too.

The policy's side is the server's own deparse (`pg_get_expr` of `pg_policy.polqual` or
`polwithcheck`, read in the same transaction); the plan's side is plan-author SQL (like an
`sql` step), checked to be one expression (`expected_expression`: no locking clause, which
would take a RowShareLock) and sent through the check's guard. Nothing read back from the
audit trail is sent.

Planning runs code: it folds an IMMUTABLE function called with constants, evaluates a
STABLE one to estimate a condition, inlines a SQL function or runs it. A policy's functions
are its table owner's code, and migrator's role is often a superuser. So before anything
is planned, `depends.reach` reads from the catalogs what the two texts could have the
planner run: a function in a trusted procedural language it could run refuses the
comparison (ExpressionError naming it: the check fails, nothing planned or run); a SQL
function of the database's makes both sides planned as the table's owner (`run_as`, the
sanctioned way through the check's guard; refused when the check's role cannot become
the owner), then the check's role again. Both sides alike, so they are normalised alike.
And a database function folded into a constant must not make a check pass: two plans
alike still differ when the texts call different functions of the database by name
(`trojan()` folded to `true` is not `true`). Refusing was chosen over comparing text
(`pg_get_expr` of the policy against the plan's text): the plan's side cannot be
deparsed without planning it, and text alone would fail most equal expressions.

Aliases are the writer's choice: `select m.org_id from members m` and `select org_id from
members` plan alike once each relation scan is known by its relation's name (`aliases.py`,
only where that names one thing).

The planner's choices for a SubPlan (hashed or not, an index or not) follow the tables'
size, which writers may change between two EXPLAINs: the policy's side is deparsed again
after the plan's, and the comparison counts only when both of those agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from migrator.plugin import execute, run_as

from .aliases import realiased
from .definition import qualified
from .depends import defined_functions, query, reach
from .expression import expected_expression

# SQLSTATE classes of an expression PostgreSQL cannot read over the table: a syntax
# error, an unknown column or function, a type mismatch, a constant of the wrong form.
_UNREADABLE = ("42", "22")
_ATTEMPTS = 3
_QUALS = ("One-Time Filter", "Index Cond", "Recheck Cond", "Hash Cond", "Join Filter", "Filter")


class ExpressionError(Exception):
    """The plan's expression is not one, or PostgreSQL cannot read it over the table."""


@dataclass(frozen=True)
class Normalised:
    """An expression as PostgreSQL made it: `expression` and `subplans` (one line each)
    for people, `plan` (the whole plan) compared."""

    expression: str
    subplans: tuple[str, ...]
    plan: str

    @property
    def shown(self) -> str:
        return self.shown_with(self.subplans)

    def shown_with(self, subplans: tuple[str, ...]) -> str:
        return self.expression + (" where " + "; ".join(subplans) if subplans else "")


def shown_apart(wanted: Normalised, have: Normalised) -> tuple[str, str]:
    """Both as people read them, each with only the SubPlans that differ (all of them
    when nothing shown would differ otherwise)."""
    ours = tuple(s for s in wanted.subplans if s not in have.subplans)
    theirs = tuple(s for s in have.subplans if s not in wanted.subplans)
    if (wanted.expression, ours) == (have.expression, theirs):
        return wanted.shown, have.shown
    return wanted.shown_with(ours), have.shown_with(theirs)


def _explain(expression: str, schema: str, table: str) -> str:
    return (
        "explain (verbose, costs off, format json) "
        f"select ({expression}) from only {qualified(schema, table)} where false"
    )


def _normalised(rows: Any) -> Normalised:
    document = rows.scalar_one()
    if isinstance(document, str):
        document = json.loads(document)
    top = realiased(document[0]["Plan"])
    subplans = tuple(
        f"{child.get('Subplan Name', child['Parent Relationship'])}: {_node(child)}"
        for child in top.get("Plans", [])
        if child.get("Parent Relationship") in ("SubPlan", "InitPlan")
    )
    expression = ", ".join(top.get("Output", []))
    # The plan alone: beside it, EXPLAIN VERBOSE may print a "Query Identifier" (with
    # compute_query_id on, as pg_stat_statements sets it), a hash of the query as
    # written, before constants are folded: `org_id = 3 + 4` and `org_id = 7` differ there.
    return Normalised(expression, subplans, json.dumps(top, sort_keys=True))


def _node(plan: dict[str, Any]) -> str:
    """A plan node in one line: its type, relation, quals and children."""
    text = str(plan["Node Type"])
    if "Relation Name" in plan:
        text += f" on {plan.get('Schema', '')}.{plan['Relation Name']} {plan.get('Alias', '')}"
    quals = [f"{key}: {plan[key]}" for key in _QUALS if key in plan]
    if plan.get("Output") and plan.get("Parent Relationship") in ("SubPlan", "InitPlan"):
        quals.insert(0, f"Output: {', '.join(plan['Output'])}")
    children = [_node(child) for child in plan.get("Plans", [])]
    parts = quals + ([f"-> {' | '.join(children)}"] if children else [])
    return text.strip() + (f" ({'; '.join(parts)})" if parts else "")


def _policy_side(conn: Any, schema: str, table: str, deparsed: str) -> Normalised:
    """The server's own deparse of the policy, read again over the table."""
    sql = _explain(deparsed, schema, table).replace("%", "%%")
    return _normalised(conn.exec_driver_sql(sql, {}))


def _plan_side(conn: Any, schema: str, table: str, expression: str) -> Normalised:
    """The plan's expression, through the check's guard; ExpressionError when it is not
    one expression or the server cannot read it over the table."""
    from sqlalchemy.exc import DBAPIError

    try:
        return _normalised(execute(conn, _explain(expression, schema, table), {}))
    except DBAPIError as exc:
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        if not state.startswith(_UNREADABLE):
            raise
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ExpressionError(f"PostgreSQL cannot read it over the table: {message}") from None


def compare(
    conn: Any, schema: str, table: str, expected: str, deparsed: str
) -> tuple[Normalised, Normalised] | None:
    """None when PostgreSQL makes the same of the plan's `expected` as of the policy's
    `deparsed` over schema.table; else both as it made them (the plan's, the policy's).

    Raises ExpressionError for a plan's text that is not one expression or that the
    server cannot read (the check's transaction is then aborted: nothing more is sent).
    """
    problem = expected_expression(expected)
    if problem:
        raise ExpressionError(f"it is not one SQL expression ({problem})")
    found = reach(conn, qualified(schema, table), [expected, deparsed])
    if found.unsafe:
        raise ExpressionError(
            "it cannot be compared safely: the expressions call "
            + ", ".join(found.unsafe)
            + ", defined in the database, which PostgreSQL's planner would run (and fold "
            "into a constant) while reading them: compare the policy by hand"
        )
    user = _as_owner(conn, schema, table) if found.sql else None
    try:
        wanted, have = _compared(conn, schema, table, expected, deparsed)
    finally:  # back to the check's role while the transaction goes on (else its end does)
        if user is not None and not _aborted(conn):
            run_as(conn, user)
    if wanted.plan != have.plan:
        return wanted, have
    ours, theirs = defined_functions(conn, expected), defined_functions(conn, deparsed)
    if ours != theirs:
        return _calling(wanted, ours), _calling(have, theirs)
    return None


def _aborted(conn: Any) -> bool:
    """Whether the check's transaction failed (nothing more can be sent in it)."""
    status = conn.connection.driver_connection.info.transaction_status
    return bool(status.name == "INERROR")


def _calling(side: Normalised, functions: frozenset[str]) -> Normalised:
    """A side whose plan is the other's, told apart by the functions it calls by name."""
    names = ", ".join(f"{name}()" for name in sorted(functions)) or "none defined in the database"
    return replace(side, expression=f"{side.expression} (calling {names})")


def _as_owner(conn: Any, schema: str, table: str) -> str | None:
    """Act as the table's owner (`run_as`); the role to return to, None when the check's
    role is the owner. ExpressionError when the check's role cannot become it."""
    version = int(conn.execute(query("select current_setting('server_version_num')")).scalar())
    owner, user, can = conn.execute(
        query(
            "select pg_get_userbyid(c.relowner), current_user::text, "
            "pg_has_role(session_user, c.relowner, cast(:mode as text)) "
            "from pg_class c where c.oid = cast(cast(:name as text) as regclass)"
        ),
        {"mode": "SET" if version >= 160000 else "MEMBER", "name": qualified(schema, table)},
    ).one()
    if owner == user:
        return None
    if not can:
        raise ExpressionError(
            f"it cannot be compared safely: the expressions call SQL functions defined in "
            f"the database, which the planner may run; it runs them as the table's owner "
            f"{owner}, a role the check's role {user} cannot take"
        )
    run_as(conn, str(owner))
    return str(user)


def _compared(
    conn: Any, schema: str, table: str, expected: str, deparsed: str
) -> tuple[Normalised, Normalised]:
    """Both sides as the server read them (the plan's, the policy's)."""
    for _ in range(_ATTEMPTS):
        before = _policy_side(conn, schema, table, deparsed)
        wanted = _plan_side(conn, schema, table, expected)
        after = _policy_side(conn, schema, table, deparsed)
        if before == after:
            return wanted, after
    raise ExpressionError(
        f"the planner's choices over {schema}.{table} kept changing while the expressions "
        "were compared (its tables' sizes are changing): looked again, in vain"
    )
