"""The `rls_probe` check: try a statement as a role with JWT claims, then roll it all back."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome
from migrator.plugin import execute

from .policy import _role, ddl

ProbeVerdict = Literal["allowed", "denied"]
INSUFFICIENT_PRIVILEGE = "42501"  # also what a row-level-security violation raises
READ_ONLY_TRANSACTION = "25006"


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_role: str = Field(..., min_length=1)
    claims: dict[str, Any] = Field(default_factory=dict)
    sql: str = Field(..., min_length=1)


def describe_probe(check: Any) -> str:
    c = check.rls_probe
    return (
        f"as role {c.as_role} with JWT claims {json.dumps(c.claims)}, in a transaction that is "
        f"rolled back: {c.sql.strip()}"
    )


def evaluate_probe(ctx: CheckContext, check: Any) -> CheckOutcome:
    """Try the statement as the role with the claims; the engine rolls it all back."""
    from sqlalchemy.exc import DBAPIError

    c = check.rls_probe
    conn = ctx.connection
    claims = {k: ctx.interpolate(v) if isinstance(v, str) else v for k, v in c.claims.items()}
    conn.exec_driver_sql(
        "select set_config('request.jwt.claims', %(c)s, true)", {"c": json.dumps(claims)}
    )
    for name, value in claims.items():
        if isinstance(value, str | int | float | bool):
            conn.exec_driver_sql(
                "select set_config('request.jwt.claim.' || %(n)s, %(v)s, true)",
                {"n": name, "v": str(value).lower() if isinstance(value, bool) else str(value)},
            )
    ddl(conn, f"SET LOCAL ROLE {_role(c.as_role)}")
    try:
        execute(conn, c.sql, ctx.variables)
        verdict, detail = "allowed", ""
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if state == READ_ONLY_TRANSACTION:
            return CheckOutcome(
                False, None, check.expect, "not probed: a dry run is read-only and this writes"
            )
        if state != INSUFFICIENT_PRIVILEGE:
            raise
        verdict, detail = "denied", message
    return CheckOutcome(verdict == check.expect, verdict, check.expect, detail)
