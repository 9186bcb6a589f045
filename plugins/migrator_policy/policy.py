"""Row level security: policies, RLS switches, and probes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migrator import CheckContext, StepContext

Command = Literal["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]
ProbeVerdict = Literal["allowed", "denied"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _roles(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class PolicyConfig(_Config):
    table: str = Field(..., min_length=1, description="the table, optionally schema-qualified")
    name: str = Field(..., min_length=1)
    command: Command = "ALL"
    to: list[str] = Field(default_factory=lambda: ["public"], description="a role or a list")
    using: str | None = None
    with_check: str | None = None
    permissive: bool = True

    _command = field_validator("command", mode="before")(_upper)
    _to = field_validator("to", mode="before")(_roles)


class RlsConfig(_Config):
    table: str = Field(..., min_length=1)
    enable: bool = True
    force: bool | None = Field(None, description="also FORCE (or NO FORCE) for the table owner")


class PolicyExpectation(_Config):
    table: str = Field(..., min_length=1)
    name: str = Field(..., min_length=1)
    command: Command | None = None
    roles: list[str] | None = None
    using: str | None = None
    with_check: str | None = None

    _command = field_validator("command", mode="before")(_upper)
    _roles = field_validator("roles", mode="before")(_roles)


class ProbeConfig(_Config):
    as_role: str = Field(..., min_length=1)
    claims: dict[str, Any] = Field(default_factory=dict)
    sql: str = Field(..., min_length=1)


def describe(step: Any) -> str:
    p = step.policy
    kind = "PERMISSIVE" if p.permissive else "RESTRICTIVE"
    text = f'CREATE POLICY "{p.name}" ON {p.table} AS {kind} FOR {p.command} TO {", ".join(p.to)}'
    if p.using:
        text += f" USING ({p.using})"
    if p.with_check:
        text += f" WITH CHECK ({p.with_check})"
    return text


def describe_rls(step: Any) -> str:
    r = step.rls
    text = f"ALTER TABLE {r.table} {'ENABLE' if r.enable else 'DISABLE'} ROW LEVEL SECURITY"
    if r.force is not None:
        text += f"; ALTER TABLE {r.table} {'' if r.force else 'NO '}FORCE ROW LEVEL SECURITY"
    return text


def describe_exists(check: Any) -> str:
    c = check.policy_exists
    return f"policy '{c.name}' exists on {c.table}"


def describe_probe(check: Any) -> str:
    c = check.rls_probe
    return f"as {c.as_role} with claims {c.claims}: {c.sql.strip()}"


def _pending() -> Any:
    return NotImplementedError("RLS actions arrive with the engine (issue 3/4)")


def run(ctx: StepContext, step: Any) -> Any:
    raise _pending()


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    raise _pending()


def run_rls(ctx: StepContext, step: Any) -> Any:
    raise _pending()


def undo_rls(ctx: StepContext, step: Any, memo: Any) -> None:
    raise _pending()


def evaluate_exists(ctx: CheckContext, check: Any) -> Any:
    raise _pending()


def evaluate_probe(ctx: CheckContext, check: Any) -> Any:
    raise _pending()
