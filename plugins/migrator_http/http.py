"""The `http` action and check."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, StepContext


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Request(_Config):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(..., min_length=1, description="may use ${name} and ${env:NAME}")
    headers: dict[str, str] = Field(default_factory=dict, description="values may use ${env:NAME}")
    json_body: Any = Field(None, alias="json")
    timeout: float = Field(10.0, gt=0)


class ResponseExpectation(_Config):
    status: int | None = Field(None, ge=100, le=599)
    json_subset: Any = Field(
        None, alias="json", description="a subset the response JSON must contain"
    )


def describe(step: Any) -> str:
    r = step.http
    return f"{r.method} {r.url}"


def run(ctx: StepContext, step: Any) -> Any:
    raise NotImplementedError("http steps arrive with the engine (issue 3/4)")


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """An HTTP call is not taken back by default: give the step a `rollback` if it must be."""


def evaluate(ctx: CheckContext, check: Any) -> Any:
    raise NotImplementedError("http checks arrive with the engine (issue 3/4)")
