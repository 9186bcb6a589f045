"""Row level security: policies and the RLS switches of a table (probes: `probe.py`).

DDL cannot take bound parameters: table, policy and role names are quoted as
identifiers here; `using` and `with_check` are SQL expressions written in the
plan (code, like an `sql:` step), never plan variables.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migrator import CheckContext, CheckOutcome, StepContext

Command = Literal["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]
_ROLE_KEYWORDS = {"public", "current_user", "current_role", "session_user"}


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


# -- SQL text ---------------------------------------------------------------------------


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _role(name: str) -> str:
    return name.upper() if name.lower() in _ROLE_KEYWORDS else quote_ident(name)


def _qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def create_policy_sql(
    schema: str,
    table: str,
    name: str,
    *,
    command: str,
    roles: list[str],
    using: str | None,
    with_check: str | None,
    permissive: bool,
) -> str:
    kind = "PERMISSIVE" if permissive else "RESTRICTIVE"
    text = (
        f"CREATE POLICY {quote_ident(name)} ON {_qualified(schema, table)} AS {kind} "
        f"FOR {command} TO {', '.join(_role(r) for r in roles)}"
    )
    if using:
        text += f" USING ({using})"
    if with_check:
        text += f" WITH CHECK ({with_check})"
    return text


def describe(step: Any) -> str:
    p = step.policy
    schema, _, table = p.table.rpartition(".")
    return create_policy_sql(
        schema or "public",
        table,
        p.name,
        command=p.command,
        roles=p.to,
        using=p.using,
        with_check=p.with_check,
        permissive=p.permissive,
    ) + (" (replacing a policy of the same name, if there is one)")


def describe_rls(step: Any) -> str:
    r = step.rls
    text = f"ALTER TABLE {r.table} {'ENABLE' if r.enable else 'DISABLE'} ROW LEVEL SECURITY"
    if r.force is not None:
        text += f"; ALTER TABLE {r.table} {'' if r.force else 'NO '}FORCE ROW LEVEL SECURITY"
    return text


def describe_exists(check: Any) -> str:
    c = check.policy_exists
    wanted = [
        f"{label} {value}"
        for label, value in (
            ("for", c.command),
            ("to", ", ".join(c.roles) if c.roles else None),
            ("using", c.using),
            ("with check", c.with_check),
        )
        if value
    ]
    return f"policy '{c.name}' exists on {c.table}" + (f" ({'; '.join(wanted)})" if wanted else "")


# -- reading the catalog ----------------------------------------------------------------


class RlsError(Exception):
    """A table or policy that is not there."""


def resolve_table(conn: Any, table: str) -> tuple[str, str]:
    row = conn.exec_driver_sql(
        "select n.nspname, c.relname from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass(%(t)s)",
        {"t": table},
    ).first()
    if row is None:
        raise RlsError(f"table {table} does not exist")
    return str(row[0]), str(row[1])


def read_policy(conn: Any, schema: str, table: str, name: str) -> dict[str, Any] | None:
    row = conn.exec_driver_sql(
        "select permissive, roles::text[], cmd, qual, with_check from pg_policies "
        "where schemaname = %(s)s and tablename = %(t)s and policyname = %(n)s",
        {"s": schema, "t": table, "n": name},
    ).first()
    if row is None:
        return None
    return {
        "permissive": row[0] == "PERMISSIVE",
        "roles": list(row[1]),
        "command": row[2],
        "using": row[3],
        "with_check": row[4],
    }


def ddl(conn: Any, statement: str) -> None:
    """Run DDL built here (no parameters): a literal % is doubled for the driver."""
    conn.exec_driver_sql(statement.replace("%", "%%"), {})


def _create_from(conn: Any, schema: str, table: str, name: str, d: dict[str, Any]) -> None:
    ddl(
        conn,
        create_policy_sql(
            schema,
            table,
            name,
            command=d["command"],
            roles=d["roles"],
            using=d["using"],
            with_check=d["with_check"],
            permissive=d["permissive"],
        ),
    )


def _drop(conn: Any, schema: str, table: str, name: str) -> None:
    ddl(conn, f"DROP POLICY IF EXISTS {quote_ident(name)} ON {_qualified(schema, table)}")


# -- actions ----------------------------------------------------------------------------


def run(ctx: StepContext, step: Any) -> Any:
    """Create the policy, or replace the one of the same name; remember what was there."""
    p = step.policy
    conn = ctx.connection
    schema, table = resolve_table(conn, p.table)
    before = read_policy(conn, schema, table, p.name)
    if before is not None:
        _drop(conn, schema, table, p.name)
    wanted = {
        "permissive": p.permissive,
        "roles": p.to,
        "command": p.command,
        "using": p.using,
        "with_check": p.with_check,
    }
    _create_from(conn, schema, table, p.name, wanted)
    return {"schema": schema, "table": table, "name": p.name, "previous": before}


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Restore the policy exactly as it was before, or drop it if there was none."""
    conn = ctx.connection
    schema, table, name = memo["schema"], memo["table"], memo["name"]
    _drop(conn, schema, table, name)
    if memo.get("previous"):
        _create_from(conn, schema, table, name, memo["previous"])


def _rls_state(conn: Any, schema: str, table: str) -> tuple[bool, bool]:
    row = conn.exec_driver_sql(
        "select relrowsecurity, relforcerowsecurity from pg_class where oid = to_regclass(%(q)s)",
        {"q": _qualified(schema, table)},
    ).one()
    return bool(row[0]), bool(row[1])


def _set_rls(conn: Any, schema: str, table: str, enable: bool, force: bool | None) -> None:
    name = _qualified(schema, table)
    ddl(conn, f"ALTER TABLE {name} {'ENABLE' if enable else 'DISABLE'} ROW LEVEL SECURITY")
    if force is not None:
        ddl(conn, f"ALTER TABLE {name} {'' if force else 'NO '}FORCE ROW LEVEL SECURITY")


def run_rls(ctx: StepContext, step: Any) -> Any:
    r = step.rls
    schema, table = resolve_table(ctx.connection, r.table)
    enabled, forced = _rls_state(ctx.connection, schema, table)
    _set_rls(ctx.connection, schema, table, r.enable, r.force)
    return {"schema": schema, "table": table, "enabled": enabled, "forced": forced}


def undo_rls(ctx: StepContext, step: Any, memo: Any) -> None:
    """Put row level security back as it was: enabled or not, forced or not."""
    _set_rls(ctx.connection, memo["schema"], memo["table"], memo["enabled"], memo["forced"])


# -- checks -----------------------------------------------------------------------------

_CAST = re.compile(r"::(text|name|character varying|varchar|jsonb|json|uuid)\b")


def normalize_expression(expression: str) -> str:
    """Compare a plan's expression with PostgreSQL's deparsed one: no casts of
    literals, no outer parentheses, single spaces."""
    text = _CAST.sub("", expression)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def evaluate_exists(ctx: CheckContext, check: Any) -> CheckOutcome:
    c = check.policy_exists
    expected = {k: v for k, v in c.model_dump().items() if v is not None}
    try:
        schema, table = resolve_table(ctx.connection, c.table)
    except RlsError as exc:
        return CheckOutcome(False, None, expected, str(exc))
    found = read_policy(ctx.connection, schema, table, c.name)
    if found is None:
        return CheckOutcome(False, None, expected, f"no policy '{c.name}' on {schema}.{table}")
    mismatches = []
    if c.command and found["command"] != c.command:
        mismatches.append(f"command is {found['command']}, not {c.command}")
    if c.roles is not None and sorted(found["roles"]) != sorted(c.roles):
        mismatches.append(f"roles are {', '.join(found['roles'])}, not {', '.join(c.roles)}")
    for key in ("using", "with_check"):
        want = getattr(c, key)
        have = found[key]
        if want is not None and (
            have is None or normalize_expression(have) != normalize_expression(want)
        ):
            mismatches.append(f"{key} is {have!r}, not {want!r}")
    return CheckOutcome(not mismatches, found, expected, "; ".join(mismatches))
