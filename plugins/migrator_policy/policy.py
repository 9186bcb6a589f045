"""Row level security: policies and the RLS switches of a table (probes: `probe.py`).

DDL cannot take bound parameters: table, policy and role names are quoted as
identifiers; `using` and `with_check` are SQL expressions written in the plan (code,
like an `sql:` step), never plan variables. A policy as data, and the DDL rebuilt
from it, is `definition.py`.

Each step's memo records what was there before and what the step left (read back
from the catalog). Its undo checks first that the object is still as the step left
it: if not, it raises `NotAsLeft` and changes nothing (the run ends undo_failed,
exit 3); a memo of an earlier version, without that record, is undone unchecked.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migrator import CheckContext, CheckOutcome, StepContext
from migrator.plugin import NotAsLeft

from .compare import ExpressionError, compare, shown_apart
from .definition import (
    ROLE_KEYWORDS,
    Command,
    Definition,
    PolicyMemo,
    RlsMemo,
    Role,
    create_sql,
    differences,
    plan_role,
    plan_role_sql,
    qualified,
    quote_ident,
    read_definition,
    read_memo,
    restore_sql,
    table_exists,
)
from .expression import expected_expression


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _roles(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _one_expression(value: str | None) -> str | None:
    problem = None if value is None else expected_expression(value)
    if problem:
        raise ValueError(f"not one SQL expression: {problem}")
    return value


def _role_entries(value: list[str] | None) -> list[str] | None:
    for entry in value or []:
        plan_role(entry)  # ValueError: pydantic reports it at the entry
    return value


ROLES_HELP = (
    "a role or a list; unquoted, public, current_user, current_role and session_user are "
    """the keywords (any case), other text a role's name; '"Public"' in double quotes is """
    "the role named Public, exactly"
)


class PolicyConfig(_Config):
    table: str = Field(..., min_length=1, description="the table, optionally schema-qualified")
    name: str = Field(..., min_length=1)
    command: Command = "ALL"
    to: list[str] = Field(default_factory=lambda: ["public"], description=ROLES_HELP)
    using: str | None = None
    with_check: str | None = None
    permissive: bool = True

    _command = field_validator("command", mode="before")(_upper)
    _to = field_validator("to", mode="before")(_roles)
    _to_entries = field_validator("to")(_role_entries)


class RlsConfig(_Config):
    table: str = Field(..., min_length=1)
    enable: bool = True
    force: bool | None = Field(None, description="also FORCE (or NO FORCE) for the table owner")


EXPRESSION_HELP = (
    "one SQL expression, compared by PostgreSQL with the policy's: equal when the server "
    "makes the same of both (casts, qualified names, folded constants), operands in order"
)


class PolicyExpectation(_Config):
    table: str = Field(..., min_length=1)
    name: str = Field(..., min_length=1)
    command: Command | None = None
    roles: list[str] | None = Field(None, description=ROLES_HELP)
    using: str | None = Field(None, description=EXPRESSION_HELP)
    with_check: str | None = Field(None, description=EXPRESSION_HELP)

    _command = field_validator("command", mode="before")(_upper)
    _roles = field_validator("roles", mode="before")(_roles)
    _role_entries = field_validator("roles")(_role_entries)
    _expressions = field_validator("using", "with_check")(_one_expression)


# -- SQL text ---------------------------------------------------------------------------


def create_policy_sql(schema: str, table: str, p: PolicyConfig) -> str:
    """CREATE POLICY for a plan's step: its roles as the plan writes them."""
    return create_sql(
        schema,
        table,
        p.name,
        command=p.command,
        roles=[plan_role_sql(r) for r in p.to],
        using=p.using,
        with_check=p.with_check,
        permissive=p.permissive,
    )


def describe(step: Any) -> str:
    p = step.policy
    schema, _, table = p.table.rpartition(".")
    return create_policy_sql(schema or "public", table, p) + (
        " (replacing a policy of the same name, if there is one)"
    )


def describe_rls(step: Any) -> str:
    r = step.rls
    text = f"ALTER TABLE {r.table} {'ENABLE' if r.enable else 'DISABLE'} ROW LEVEL SECURITY"
    if r.force is not None:
        text += f"; ALTER TABLE {r.table} {'' if r.force else 'NO '}FORCE ROW LEVEL SECURITY"
    return text


def exists_sql_texts(check: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """The plan's expressions a policy_exists has the server read, for `migrator validate`."""
    c = check.policy_exists
    return [
        (("policy_exists", key), value)
        for key in ("using", "with_check")
        if (value := getattr(c, key)) is not None
    ]


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


# -- the catalog ------------------------------------------------------------------------


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


_role = plan_role_sql  # a role as a plan writes it, as SQL (the probe's `as_role`)


def ddl(conn: Any, statement: str) -> None:
    """Run DDL built here (no parameters): a literal % is doubled for the driver."""
    conn.exec_driver_sql(statement.replace("%", "%%"), {})


def _drop(conn: Any, schema: str, table: str, name: str) -> None:
    ddl(conn, f"DROP POLICY IF EXISTS {quote_ident(name)} ON {qualified(schema, table)}")


def _shown_table(schema: str, table: str) -> str:
    plain = all(name.isidentifier() and name.islower() for name in (schema, table))
    return f"{schema}.{table}" if plain else qualified(schema, table)


# -- actions ----------------------------------------------------------------------------


def run(ctx: StepContext, step: Any) -> Any:
    """Create the policy, or replace the one of the same name; remember what was there
    and what the step left, both as the catalog holds them."""
    p = step.policy
    conn = ctx.connection
    schema, table = resolve_table(conn, p.table)
    before = read_definition(conn, schema, table, p.name)
    if before is not None:
        _drop(conn, schema, table, p.name)
    ddl(conn, create_policy_sql(schema, table, p))
    left = read_definition(conn, schema, table, p.name)
    return {
        "schema": schema,
        "table": table,
        "name": p.name,
        "previous": before.data() if before else None,
        "left": left.data() if left else None,
    }


def _standard_strings(conn: Any) -> None:
    """Backslashes in '...' are plain characters, as `one_expression` reads them."""
    conn.exec_driver_sql("select set_config('standard_conforming_strings', 'on', true)", {})


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Restore the policy exactly as it was before, or drop it if there was none.

    Only if the policy is still as the step left it (else NotAsLeft, nothing changed);
    built from the memo's fields, each expression checked to be one SQL expression.
    """
    m: PolicyMemo = read_memo(PolicyMemo, memo)
    conn = ctx.connection
    schema, table, name = m.namespace, m.table, m.name
    restore = None if m.previous is None else restore_sql(schema, table, name, m.previous)
    what = f"policy {quote_ident(name)} on {_shown_table(schema, table)}"
    if m.left is not None:
        if not table_exists(conn, schema, table):
            raise NotAsLeft(what, ["its table is gone (dropped or renamed)"])
        found = differences(read_definition(conn, schema, table, name), m.left)
        if found:
            raise NotAsLeft(what, found)
    _standard_strings(conn)
    _drop(conn, schema, table, name)
    if restore is not None:
        ddl(conn, restore)


def _rls_state(conn: Any, schema: str, table: str) -> tuple[bool, bool] | None:
    row = conn.exec_driver_sql(
        "select relrowsecurity, relforcerowsecurity from pg_class where oid = to_regclass(%(q)s)",
        {"q": qualified(schema, table)},
    ).first()
    return None if row is None else (bool(row[0]), bool(row[1]))


def _set_rls(conn: Any, schema: str, table: str, enable: bool, force: bool | None) -> None:
    name = qualified(schema, table)
    ddl(conn, f"ALTER TABLE {name} {'ENABLE' if enable else 'DISABLE'} ROW LEVEL SECURITY")
    if force is not None:
        ddl(conn, f"ALTER TABLE {name} {'' if force else 'NO '}FORCE ROW LEVEL SECURITY")


def run_rls(ctx: StepContext, step: Any) -> Any:
    r = step.rls
    conn = ctx.connection
    schema, table = resolve_table(conn, r.table)
    before = _rls_state(conn, schema, table)
    if before is None:
        raise RlsError(f"table {r.table} does not exist")
    _set_rls(conn, schema, table, r.enable, r.force)
    left = _rls_state(conn, schema, table)
    assert left is not None  # the same transaction: it cannot be gone
    return {
        "schema": schema,
        "table": table,
        "enabled": before[0],
        "forced": before[1],
        "left": {"enabled": left[0], "forced": left[1]},
    }


def _switches(enabled: bool, forced: bool) -> str:
    return f"{'enabled' if enabled else 'disabled'}, {'forced' if forced else 'not forced'}"


def undo_rls(ctx: StepContext, step: Any, memo: Any) -> None:
    """Put row level security back as it was: enabled or not, forced or not.

    Only if it is still as the step left it (else NotAsLeft, nothing changed).
    """
    m: RlsMemo = read_memo(RlsMemo, memo)
    conn = ctx.connection
    if m.left is not None:
        what = f"row level security of {_shown_table(m.namespace, m.table)}"
        now = _rls_state(conn, m.namespace, m.table)
        if now is None:
            raise NotAsLeft(what, ["its table is gone (dropped or renamed)"])
        left = (m.left.enabled, m.left.forced)
        if now != left:
            raise NotAsLeft(what, [f"it is {_switches(*now)}, the step left it {_switches(*left)}"])
    _set_rls(conn, m.namespace, m.table, m.enabled, m.forced)


# -- checks ----------------------------------------------------------------------------

_CURRENT = {  # a keyword of `roles:` in policy_exists, as the role it stands for now
    "CURRENT_USER": "select current_user::text",
    "CURRENT_ROLE": "select current_role::text",
    "SESSION_USER": "select session_user::text",
}


def _expected_role(conn: Any, entry: str) -> Role:
    kind, value = plan_role(entry)
    if kind == "name":
        return Role(name=value)
    if value == "PUBLIC":
        return Role(public=True)
    return Role(name=str(conn.exec_driver_sql(_CURRENT[value], {}).scalar()))


def _shown_role(role: Role) -> str:
    """A role for people: public for PUBLIC, a name as it is unless it would read as a
    keyword or a quoted name (then in double quotes)."""
    name = role.name or ""
    if role.public:
        return "public"
    return quote_ident(name) if name.lower() in ROLE_KEYWORDS or name.startswith('"') else name


def _found(d: Definition) -> dict[str, Any]:
    return {**d.data(), "roles": [_shown_role(r) for r in d.roles]}


def evaluate_exists(ctx: CheckContext, check: Any) -> CheckOutcome:
    c = check.policy_exists
    conn = ctx.connection
    expected = {k: v for k, v in c.model_dump().items() if v is not None}
    try:
        schema, table = resolve_table(conn, c.table)
    except RlsError as exc:
        return CheckOutcome(False, None, expected, str(exc))
    definition = read_definition(conn, schema, table, c.name)
    if definition is None:
        return CheckOutcome(False, None, expected, f"no policy '{c.name}' on {schema}.{table}")
    found = _found(definition)
    mismatches = []
    if c.command and found["command"] != c.command:
        mismatches.append(f"command is {found['command']}, not {c.command}")
    if c.roles is not None:
        wanted = [_shown_role(_expected_role(conn, r)) for r in c.roles]
        if sorted(found["roles"]) != sorted(wanted):
            mismatches.append(f"roles are {', '.join(found['roles'])}, not {', '.join(c.roles)}")
    for key in ("using", "with_check"):
        want, have = getattr(c, key), found[key]
        if want is None:
            continue
        if have is None:
            mismatches.append(f"{key} is none, not {want!r}")
            continue
        try:
            differ = compare(conn, schema, table, want, have)
        except ExpressionError as exc:  # the transaction may be aborted: nothing more sent
            mismatches.append(f"{key}: the plan's {want!r}: {exc}")
            break
        if differ:
            ours, theirs = shown_apart(*differ)
            mismatches.append(
                f"{key} differs: the policy's is {theirs}, the plan's is {ours} "
                "(both as PostgreSQL reads them)"
            )
    return CheckOutcome(not mismatches, found, expected, "; ".join(mismatches))
