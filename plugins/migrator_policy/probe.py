"""The `rls_probe` check: try SQL as a role, with JWT claims, in a transaction rolled back.

The probe sets the claims (`request.jwt.claims`, and one `request.jwt.claim.NAME` per
scalar claim, as PostgREST and Supabase do), becomes `as_role` with `run_as` (the role
quoted as an identifier: a role named "Public" is not PUBLIC) and runs its statements one
by one through `execute`. The engine's guard holds every statement to that role and to the
open transaction: a statement that leaves either fails the check. Its verdict:

- `denied`: a statement raised insufficient_privilege (what an RLS violation raises too),
  or one that returns or affects rows gave a count outside `rows` (default `>= 1`): RLS
  filtered every row;
- `allowed`: every statement ran, and each that returns or affects rows met `rows`.

A probe whose SQL writes (anything but SELECT, VALUES, TABLE, SHOW) declares it
(`writes`): the engine gives it a read-write transaction, always rolled back; a dry run
never does, and there such a probe is "not probed".
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migrator import CheckContext, CheckOutcome
from migrator.plugin import execute, parse_expectation, run_as, sql_words, statements

ProbeVerdict = Literal["allowed", "denied"]
INSUFFICIENT_PRIVILEGE = "42501"  # also what a row-level-security violation raises
READ_ONLY_TRANSACTION = "25006"
_READING = {"select", "values", "table", "show"}
# What a probe tries: reading or writing rows, as the application would. Nothing else (a
# CREATE FUNCTION could define code that switches role inside one statement).
_PROBING = _READING | {"with", "insert", "update", "delete", "merge"}
NOT_PROBED = "not probed: a dry run is read-only and this writes"


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_role: str = Field(..., min_length=1, description="the role the SQL runs as (quoted)")
    claims: dict[str, Any] = Field(default_factory=dict)
    sql: str = Field(..., min_length=1)
    rows: str | int = Field(
        ">= 1",
        description="how many rows each statement that returns or affects rows must give "
        "for `allowed` (the generic expectation: 'OP VALUE' or a number)",
    )

    @field_validator("sql")
    @classmethod
    def _sql(cls, value: str) -> str:
        for number, stmt in enumerate(sql_words(value), start=1):
            first = stmt[0].value if stmt[0].kind == "word" else stmt[0].value[:20]
            if stmt[0].kind != "word" or first not in _PROBING:
                raise ValueError(
                    f"statement {number} begins with {first.upper()!r}: a probe reads or "
                    "writes rows as the application would (SELECT, WITH, VALUES, TABLE, "
                    "SHOW, INSERT, UPDATE, DELETE, MERGE), nothing else"
                )
        return value

    @field_validator("rows")
    @classmethod
    def _rows(cls, value: str | int) -> str | int:
        parse_expectation(value)  # raises ValueError (ExpectationError) when not understood
        return value


def sql_texts(check: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """The SQL a probe sends, for `migrator validate`."""
    return [(("rls_probe", "sql"), check.rls_probe.sql)]


def writes(check: Any) -> bool:
    """Whether the probe's SQL may write: a statement that does not begin with a reading word."""
    return any(
        not stmt or stmt[0].kind != "word" or stmt[0].value not in _READING
        for stmt in sql_words(check.rls_probe.sql)
    )


def describe_probe(check: Any) -> str:
    c = check.rls_probe
    rows = (
        ""
        if str(c.rows).strip() == ">= 1"
        else f" (allowed needs rows {c.rows} of each statement that returns or affects rows)"
    )
    return (
        f"as role {c.as_role} with JWT claims {json.dumps(c.claims)}, in a transaction that is "
        f"rolled back{rows}: {c.sql.strip()}"
    )


def _set_claims(ctx: CheckContext, claims: dict[str, Any]) -> None:
    conn = ctx.connection
    conn.exec_driver_sql(
        "select set_config('request.jwt.claims', %(c)s, true)", {"c": json.dumps(claims)}
    )
    for name, value in claims.items():
        if isinstance(value, str | int | float | bool):
            conn.exec_driver_sql(
                "select set_config('request.jwt.claim.' || %(n)s, %(v)s, true)",
                {"n": name, "v": str(value).lower() if isinstance(value, bool) else str(value)},
            )


def _count(result: Any) -> int | None:
    """Rows a statement returned or affected; None for one that does neither (SET)."""
    if result is None:
        return None
    if result.returns_rows:
        return len(result.all())
    count = result.rowcount
    return count if isinstance(count, int) and count >= 0 else None


def evaluate_probe(ctx: CheckContext, check: Any) -> CheckOutcome:
    """Try the statements as the role with the claims; the engine rolls it all back."""
    from sqlalchemy.exc import DBAPIError

    c = check.rls_probe
    if ctx.dry_run and writes(check):
        return CheckOutcome(False, None, check.expect, NOT_PROBED)
    rows = parse_expectation(c.rows)
    if not hasattr(rows, "test"):
        raise ValueError(f"rows: {c.rows!r} is not a comparison")
    claims = {k: ctx.interpolate(v) if isinstance(v, str) else v for k, v in c.claims.items()}
    _set_claims(ctx, claims)
    run_as(ctx.connection, c.as_role)
    verdict, detail = "allowed", ""
    try:
        for number, statement in enumerate(statements(c.sql), start=1):
            count = _count(execute(ctx.connection, statement.text, ctx.variables))
            if count is not None and not rows.test(count):
                verdict = "denied"
                detail = (
                    f"RLS filtered the rows of statement {number}: {count} row(s), "
                    f"allowed needs {rows}"
                )
                break
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if state == READ_ONLY_TRANSACTION:
            return CheckOutcome(False, None, check.expect, NOT_PROBED)
        if state != INSUFFICIENT_PRIVILEGE:
            raise
        verdict, detail = "denied", message
    return CheckOutcome(verdict == check.expect, verdict, check.expect, detail)
