"""The `sql` action and `query` check."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome, StepContext
from migrator.plugin import EqualsQuery, compare_rows, execute, fetch_rows, judge


class SqlOptions(BaseModel):
    """Keys allowed beside `sql:` in a step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    autocommit: bool = Field(
        False, description="run outside a transaction (CREATE INDEX CONCURRENTLY)"
    )


def describe(step: Any) -> str:
    return str(step.sql).strip()


def describe_query(check: Any) -> str:
    text = str(check.query).strip()
    if isinstance(check.expect, EqualsQuery):
        return f"{text}\n-- returns the same rows as:\n{check.expect.sql.strip()}"
    return text


def in_transaction(step: Any) -> bool:
    return not step.autocommit


def run(ctx: StepContext, step: Any) -> Any:
    result = execute(ctx.connection, step.sql, ctx.variables)
    rowcount = getattr(result, "rowcount", -1)
    return {"rowcount": rowcount} if rowcount is not None and rowcount >= 0 else None


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    rows = [tuple(r) for r in fetch_rows(ctx.connection, check.query, ctx.variables)]
    if isinstance(check.expect, EqualsQuery):
        other = [tuple(r) for r in fetch_rows(ctx.connection, check.expect.sql, ctx.variables)]
        difference = compare_rows(rows, other)
        actual = f"{len(rows)} rows"
        return CheckOutcome(
            difference is None, actual, f"the same {len(other)} rows", difference or ""
        )
    return judge(check.expect, rows[0][0] if rows and rows[0] else None)
