"""The `backfill` action."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from migrator import StepContext

Seconds = Annotated[float, BeforeValidator(lambda v: _seconds(v))]


def _seconds(value: Any) -> float:
    from migrator.plan.fields import parse_duration

    return parse_duration(value)


class BackfillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field(..., min_length=1, description="the driving table")
    key: str = Field(..., min_length=1, description="unique, indexed, orderable column")
    statement: str = Field(
        ..., min_length=1, description="run per batch with :lo (exclusive) and :hi (inclusive)"
    )
    batch_size: int = Field(5000, gt=0, le=10_000_000)
    where: str | None = Field(None, description="filters the driving rows")
    throttle: Seconds | None = Field(None, description="a pause between batches")
    max_rate: float | None = Field(None, gt=0, description="rows per second at most")
    batch_timeout: Seconds | None = Field(None, description="statement timeout of one batch")
    throttle_query: str | None = Field(
        None, description="SQL true while the database is under pressure"
    )


def describe(step: Any) -> str:
    b = step.backfill
    where = f" where {b.where}" if b.where else ""
    head = f"backfill over {b.table}.{b.key}{where} in batches of {b.batch_size}"
    return f"{head}:\n{b.statement.strip()}"


def run(ctx: StepContext, step: Any) -> Any:
    raise NotImplementedError("backfills arrive with the backfill issue (5)")
