"""The `sql` action and `query` check: configuration, description, and running."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, StepContext


class SqlOptions(BaseModel):
    """Keys allowed beside `sql:` in a step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    autocommit: bool = Field(
        False, description="run outside a transaction (CREATE INDEX CONCURRENTLY)"
    )


def describe(step: Any) -> str:
    return str(step.sql).strip()


def describe_query(check: Any) -> str:
    return str(check.query).strip()


def run(ctx: StepContext, step: Any) -> Any:
    raise NotImplementedError("running sql steps arrives with the engine (issue 3/4)")


def evaluate(ctx: CheckContext, check: Any) -> Any:
    raise NotImplementedError("evaluating query checks arrives with the engine (issue 3/4)")
