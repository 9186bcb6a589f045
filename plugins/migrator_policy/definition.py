"""A policy as data: read from the catalog, kept in a memo, rebuilt as DDL.

What an undo executes is rebuilt here from structured fields, never pasted from the
audit trail: names and roles are quoted as identifiers (a role named `Public` stays
`"Public"`, only OID 0 is PUBLIC), the command is one of five words, and an
expression read back from a memo must be one SQL expression (`one_expression`) before
it goes between the parentheses of `USING (...)` or `WITH CHECK (...)`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)

from .expression import one_expression

Command = Literal["ALL", "SELECT", "INSERT", "UPDATE", "DELETE"]
_COMMANDS: dict[str, Command] = {
    "*": "ALL",
    "r": "SELECT",
    "a": "INSERT",
    "w": "UPDATE",
    "d": "DELETE",
}
ROLE_KEYWORDS = {"public", "current_user", "current_role", "session_user"}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


# -- roles as a plan writes them --------------------------------------------------------


def plan_role(entry: str) -> tuple[str, str]:
    """What a `to:` entry means: ("keyword", "PUBLIC"), or ("name", the role's name).

    As in SQL, a name in double quotes is taken exactly (`'"Public"'` is the role
    Public, `'"we""ird"'` the role we"ird); unquoted, the words public, current_user,
    current_role and session_user are the keywords, in any case; any other text is a
    role's name as written. Raises ValueError for an empty or badly quoted entry.
    """
    if not entry:
        raise ValueError("a role is an empty string")
    if entry.startswith('"'):
        inner = entry[1:-1]
        if len(entry) < 3 or not entry.endswith('"') or '"' in inner.replace('""', ""):
            raise ValueError(
                f"{entry} is not a quoted role name: write it as in SQL, "
                '"name" with each " inside doubled'
            )
        return "name", inner.replace('""', '"')
    if entry.lower() in ROLE_KEYWORDS:
        return "keyword", entry.upper()
    return "name", entry


def plan_role_sql(entry: str) -> str:
    kind, value = plan_role(entry)
    return value if kind == "keyword" else quote_ident(value)


# -- a policy as data -------------------------------------------------------------------


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Role(_Data):
    """PUBLIC (`{"public": true}`, OID 0) or a role by name (`{"name": ...}`)."""

    public: StrictBool = False
    name: StrictStr | None = None

    @model_validator(mode="after")
    def _one(self) -> Role:
        if self.public == (self.name is not None):
            raise ValueError('a role is either {"public": true} or {"name": ...}')
        if self.name is not None and (not self.name or "\0" in self.name):
            raise ValueError("a role's name is empty or holds NUL")
        return self

    def sql(self) -> str:
        return "PUBLIC" if self.public else quote_ident(self.name or "")

    def data(self) -> dict[str, Any]:
        return {"public": True} if self.public else {"name": self.name}


class Definition(_Data):
    """A policy's definition: as the catalog holds it, or as a memo recorded it."""

    command: Command
    permissive: StrictBool
    roles: list[Role]
    using: StrictStr | None
    with_check: StrictStr | None

    def data(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "permissive": self.permissive,
            "roles": [r.data() for r in self.roles],
            "using": self.using,
            "with_check": self.with_check,
        }


def old_roles(roles: Any) -> Any:
    """Roles as memos before structured roles held them (`pg_policies.roles` as text):
    `public` is PUBLIC (no role can be named so), any other text a role's name."""
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return roles
    return [{"public": True} if r == "public" else {"name": r} for r in roles]


class _Memo(_Data):
    model_config = ConfigDict(populate_by_name=True)

    namespace: StrictStr = Field(alias="schema")
    table: StrictStr


class PolicyMemo(_Memo):
    """A `policy` step's memo: the policy before the step (None: there was none) and the
    one it left; a memo of an earlier version has no `left`, and roles as text."""

    name: StrictStr
    previous: Definition | None
    left: Definition | None = None

    @model_validator(mode="before")
    @classmethod
    def _earlier(cls, data: Any) -> Any:
        previous = data.get("previous") if isinstance(data, dict) else None
        if isinstance(previous, dict) and "left" not in data:
            data = {**data, "previous": {**previous, "roles": old_roles(previous.get("roles"))}}
        return data


class RlsState(_Data):
    enabled: StrictBool
    forced: StrictBool


class RlsMemo(_Memo):
    """An `rls` step's memo: the switches before it, and (`left`) after it."""

    enabled: StrictBool
    forced: StrictBool
    left: RlsState | None = None


class MemoError(Exception):
    """A memo the undo cannot be built from: nothing of it is executed."""


def read_memo(model: type[_Memo], memo: Any) -> Any:
    """`memo` as `model`, or MemoError naming the first field that is wrong."""
    try:
        return model.model_validate(memo)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the memo"
        raise MemoError(
            f"the memo of this step is not one its undo can be built from "
            f"({where}: {first['msg']}); nothing was executed"
        ) from None


def create_sql(
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
    """CREATE POLICY; `roles` already as SQL (quoted names or keywords)."""
    kind = "PERMISSIVE" if permissive else "RESTRICTIVE"
    text = (
        f"CREATE POLICY {quote_ident(name)} ON {qualified(schema, table)} AS {kind} "
        f"FOR {command} TO {', '.join(roles)}"
    )
    if using:
        text += f" USING ({using})"
    if with_check:
        text += f" WITH CHECK ({with_check})"
    return text


def restore_sql(schema: str, table: str, name: str, d: Definition) -> str:
    """CREATE POLICY for a definition read back from a memo; MemoError when one of its
    expressions is not one SQL expression (then nothing of it may run)."""
    for label, expression in (("using", d.using), ("with_check", d.with_check)):
        if expression is not None and (problem := one_expression(expression)):
            raise MemoError(
                f"the memo of this step holds a `{label}` that is not one SQL expression "
                f"({problem}); nothing was executed"
            )
    return create_sql(
        schema,
        table,
        name,
        command=d.command,
        roles=[r.sql() for r in d.roles],
        using=d.using,
        with_check=d.with_check,
        permissive=d.permissive,
    )


# -- the catalog ------------------------------------------------------------------------


def table_exists(conn: Any, schema: str, table: str) -> bool:
    found = conn.exec_driver_sql(
        "select to_regclass(%(q)s) is not null", {"q": qualified(schema, table)}
    ).scalar()
    return bool(found)


def read_definition(conn: Any, schema: str, table: str, name: str) -> Definition | None:
    """The policy `name` on `schema.table` from `pg_policy`, or None: roles from
    `polroles` in order (OID 0 is PUBLIC), expressions as the server deparses them."""
    row = conn.exec_driver_sql(
        "select p.polcmd::text, p.polpermissive, "
        "array(select r.oid::int8 from unnest(p.polroles) with ordinality r(oid, n) "
        "order by r.n), "
        "array(select coalesce(a.rolname::text, '') from unnest(p.polroles) "
        "with ordinality r(oid, n) left join pg_roles a on a.oid = r.oid order by r.n), "
        "pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) "
        "from pg_policy p where p.polrelid = to_regclass(%(q)s) and p.polname = %(n)s",
        {"q": qualified(schema, table), "n": name},
    ).first()
    if row is None:
        return None
    roles = [
        Role(public=True) if oid == 0 else Role(name=role)
        for oid, role in zip(row[2], row[3], strict=True)
    ]
    return Definition(
        command=_COMMANDS[row[0]],
        permissive=bool(row[1]),
        roles=roles,
        using=row[4],
        with_check=row[5],
    )


def differences(now: Definition | None, left: Definition) -> list[str]:
    """What differs between the policy now and the one a step left, in words.

    The expressions are compared as text, not by the server (`compare.py`): both are
    the server's own deparse (`pg_get_expr`), the left one read back from the memo,
    and nothing read back from the audit trail is ever sent to be read. Equal text is
    the same expression; text that differs only by how another major or search_path
    prints it reads as changed, and the undo refuses (the safe side: nothing changed).
    """
    if now is None:
        return ["it is gone (dropped or renamed)"]
    found = []
    if now.command != left.command:
        found.append(f"its command is {now.command}, the step left {left.command}")
    if now.permissive != left.permissive:
        found.append(f"it is {_kind(now)}, the step left it {_kind(left)}")
    if now.roles != left.roles:
        found.append(f"its roles are {_roles(now)}, the step left {_roles(left)}")
    for label, have, had in (
        ("using", now.using, left.using),
        ("with check", now.with_check, left.with_check),
    ):
        if have != had:
            found.append(f"{label} is {_shown(have)}, the step left {_shown(had)}")
    return found


def _kind(d: Definition) -> str:
    return "PERMISSIVE" if d.permissive else "RESTRICTIVE"


def _roles(d: Definition) -> str:
    return ", ".join(r.sql() for r in d.roles)


def _shown(expression: str | None) -> str:
    return "none" if expression is None else f"`{expression}`"
