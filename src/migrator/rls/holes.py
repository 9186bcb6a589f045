"""RLS audit: find the row level security holes of a database by reading its catalog.

Three kinds of finding, each a `Finding`:

- `rls_without_policy` (error): a table with row level security enabled and no policy at
  all. Every role but the owner (and BYPASSRLS roles) sees no rows and has every insert,
  update and delete refused: IR-07's cause.
- `allow_all_policy` (warning): a permissive policy whose USING or WITH CHECK is the
  literal `true`, granted to `anon`, `authenticated` or `public`: it lets every row through.
- `exposed_without_rls` (warning): a table in an exposed schema, without row level
  security, on which `anon` or `authenticated` (or `public`, when neither role exists)
  holds SELECT, INSERT, UPDATE or DELETE (table-wide or on any column).

Everything here only reads `pg_catalog`; `audit_rls` also runs it in a READ ONLY
transaction that is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from migrator.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from migrator.api.context import Context

FindingKind = Literal["rls_without_policy", "allow_all_policy", "exposed_without_rls"]
FindingSeverity = Literal["error", "warning"]

KINDS: tuple[FindingKind, ...] = get_args(FindingKind)
EXPOSED_ROLES: tuple[str, ...] = ("anon", "authenticated")
"""The roles an API gives to unauthenticated and signed-in callers (Supabase's names)."""
DEFAULT_EXPOSED_SCHEMAS: tuple[str, ...] = ("public",)
PRIVILEGES: tuple[str, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE")

_SEVERITY_RANK = {"error": 0, "warning": 1}
_KIND_RANK = {kind: i for i, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class Finding:
    """One RLS hole: what kind, where, which policy (if any), for which roles, and why."""

    kind: FindingKind
    schema: str
    table: str
    policy: str | None
    roles: tuple[str, ...]
    detail: str
    severity: FindingSeverity

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    def sort_key(self) -> tuple[int, int, str, str, str]:
        return (
            _SEVERITY_RANK[self.severity],
            _KIND_RANK[self.kind],
            self.schema,
            self.table,
            self.policy or "",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "schema": self.schema,
            "table": self.table,
            "policy": self.policy,
            "roles": list(self.roles),
            "detail": self.detail,
        }

    def __str__(self) -> str:
        where = self.qualified_table + (f" policy {self.policy!r}" if self.policy else "")
        return f"{self.severity}: {self.kind}: {where}: {self.detail}"


def is_literal_true(expression: str | None) -> bool:
    """Whether a policy expression is the constant `true` (`TRUE`, `(true)`, `( ( true ) )`)."""
    if expression is None:
        return False
    text = expression.strip()
    while len(text) >= 2 and text[0] == "(" and text[-1] == ")" and _wraps(text):
        text = text[1:-1].strip()
    return text.lower() == "true"


def _wraps(text: str) -> bool:
    """Whether the opening parenthesis at 0 closes at the very end (not `(a) or (b)`)."""
    depth = 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i == len(text) - 1
    return False


# -- reading the catalog ----------------------------------------------------------------

_USER_SCHEMAS = """
select nspname from pg_namespace
where nspname !~ '^pg_' and nspname <> 'information_schema'
order by nspname
"""

_EXISTING_SCHEMAS = "select nspname from pg_namespace where nspname = any(%(schemas)s)"

_TABLES_WITHOUT_POLICY = """
select n.nspname, c.relname, c.relforcerowsecurity
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and c.relrowsecurity
  and n.nspname = any(%(schemas)s)
  and not exists (select 1 from pg_policy p where p.polrelid = c.oid)
"""

_POLICIES = """
select schemaname, tablename, policyname, permissive, roles::text[], cmd, qual, with_check
from pg_policies
where schemaname = any(%(schemas)s)
"""

_EXISTING_ROLES = "select rolname from pg_roles where rolname = any(%(roles)s) order by rolname"

_EXPOSED_WITHOUT_RLS = """
select n.nspname, c.relname, r.role,
       array(
         select p.privilege from unnest(%(privileges)s::text[]) with ordinality p(privilege, i)
         where has_table_privilege(r.role, c.oid, p.privilege)
            or (p.privilege <> 'DELETE' and has_any_column_privilege(r.role, c.oid, p.privilege))
         order by p.i
       )
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join unnest(%(roles)s::text[]) r(role)
where c.relkind in ('r', 'p')
  and not c.relrowsecurity
  and n.nspname = any(%(schemas)s)
"""


def _rows(connection: Any, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.exec_driver_sql(query, params)]


def user_schemas(connection: Any) -> list[str]:
    """Every schema but PostgreSQL's own (`pg_*`, `information_schema`)."""
    return [str(row[0]) for row in _rows(connection, _USER_SCHEMAS, {})]


def missing_schemas(connection: Any, schemas: Sequence[str]) -> list[str]:
    """The schemas of `schemas` that do not exist, in the order given."""
    found = {str(r[0]) for r in _rows(connection, _EXISTING_SCHEMAS, {"schemas": list(schemas)})}
    return [s for s in schemas if s not in found]


def find_rls_holes(
    connection: Any,
    schemas: list[str] | None = None,
    *,
    exposed_roles: Sequence[str] = EXPOSED_ROLES,
) -> list[Finding]:
    """Every RLS hole in `schemas`, errors first, then by kind, schema, table and policy.

    `schemas` are the schemas audited, and the exposed ones for `exposed_without_rls`.
    None audits every user schema for the first two kinds and treats `public` as the
    only exposed schema. `exposed_roles` are the API's roles (those of them that exist;
    `public` when none does). Reads `pg_catalog` only; `connection` is a SQLAlchemy
    Connection.
    """
    audited = list(schemas) if schemas is not None else user_schemas(connection)
    exposed = list(schemas) if schemas is not None else list(DEFAULT_EXPOSED_SCHEMAS)
    findings = [
        *_without_policy(connection, audited),
        *_allow_all(connection, audited, exposed_roles),
        *_exposed_without_rls(connection, exposed, exposed_roles),
    ]
    return sorted(findings, key=Finding.sort_key)


def _without_policy(connection: Any, schemas: list[str]) -> Iterable[Finding]:
    for schema, table, forced in _rows(connection, _TABLES_WITHOUT_POLICY, {"schemas": schemas}):
        owner = " (FORCE is on: the owner too)" if forced else ""
        yield Finding(
            kind="rls_without_policy",
            schema=schema,
            table=table,
            policy=None,
            roles=(),
            detail="row level security is on and there is no policy: every role but the "
            f"owner and BYPASSRLS roles{owner} reads no rows and has every write refused",
            severity="error",
        )


def _allow_all(
    connection: Any, schemas: list[str], exposed_roles: Sequence[str]
) -> Iterable[Finding]:
    for schema, table, policy, permissive, roles, command, qual, check in _rows(
        connection, _POLICIES, {"schemas": schemas}
    ):
        if permissive != "PERMISSIVE":
            continue  # a restrictive policy only ever narrows what permissive ones allow
        exposed = tuple(sorted(r for r in roles if r in (*exposed_roles, "public")))
        true_parts = [
            clause
            for clause, expression in (("USING", qual), ("WITH CHECK", check))
            if is_literal_true(expression)
        ]
        if not exposed or not true_parts:
            continue
        yield Finding(
            kind="allow_all_policy",
            schema=schema,
            table=table,
            policy=policy,
            roles=exposed,
            detail=f"permissive policy for {command} to {', '.join(sorted(roles))} with "
            f"{' and '.join(f'{c} (true)' for c in true_parts)}: every row is let through",
            severity="warning",
        )


def _exposed_without_rls(
    connection: Any, schemas: list[str], exposed_roles: Sequence[str]
) -> Iterable[Finding]:
    roles = [str(r[0]) for r in _rows(connection, _EXISTING_ROLES, {"roles": list(exposed_roles)})]
    if not roles:
        roles = ["public"]
    granted: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
    params = {"schemas": schemas, "roles": roles, "privileges": list(PRIVILEGES)}
    for schema, table, role, privileges in _rows(connection, _EXPOSED_WITHOUT_RLS, params):
        if privileges:
            granted.setdefault((schema, table), []).append((role, list(privileges)))
    for (schema, table), grants in granted.items():
        grants.sort()
        can = "; ".join(f"{role} can {', '.join(privileges)}" for role, privileges in grants)
        yield Finding(
            kind="exposed_without_rls",
            schema=schema,
            table=table,
            policy=None,
            roles=tuple(role for role, _ in grants),
            detail=f"row level security is off and {can}: every row is open to them",
            severity="warning",
        )


# -- choosing and showing findings ---------------------------------------------------------


def split_table(name: str) -> tuple[str | None, str]:
    """`schema.table` -> (schema, table); a bare `table` -> (None, table). Quotes dropped."""
    schema, dot, table = name.partition(".")
    if not dot:
        return None, name.strip().strip('"')
    return schema.strip().strip('"'), table.strip().strip('"')


def select_findings(
    findings: Iterable[Finding],
    tables: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
) -> list[Finding]:
    """The findings on `tables` (`t` matches in any schema, `s.t` only in s) of `kinds`."""
    wanted = [split_table(t) for t in tables] if tables is not None else None

    def keep(f: Finding) -> bool:
        if kinds is not None and f.kind not in kinds:
            return False
        if wanted is None:
            return True
        return any(t == f.table and (s is None or s == f.schema) for s, t in wanted)

    return [f for f in findings if keep(f)]


def missing_tables(connection: Any, tables: Sequence[str], schemas: Sequence[str]) -> list[str]:
    """The names of `tables` that name no table (a bare name: in none of `schemas`)."""
    missing = []
    for name in tables:
        schema, table = split_table(name)
        row = connection.exec_driver_sql(
            "select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p') and c.relname = %(t)s and n.nspname = any(%(s)s)",
            {"t": table, "s": [schema] if schema is not None else list(schemas)},
        ).first()
        if row is None:
            missing.append(name)
    return missing


def summarize(findings: Sequence[Finding]) -> dict[str, Any]:
    """Counts: all findings, by severity and by kind."""
    return {
        "findings": len(findings),
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "by_kind": {kind: sum(f.kind == kind for f in findings) for kind in KINDS},
    }


def findings_document(findings: Sequence[Finding], **extra: Any) -> dict[str, Any]:
    """The JSON form: `{"findings": [...], "summary": {...}}`."""
    return {
        "findings": [f.as_dict() for f in findings],
        "summary": {**summarize(findings), **extra},
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no RLS holes found"
    counts = summarize(findings)
    return (
        f"{_plural(counts['findings'], 'finding')}: {_plural(counts['errors'], 'error')}, "
        f"{_plural(counts['warnings'], 'warning')}"
    )


# -- the command -------------------------------------------------------------------------


def audit_rls(ctx: Context, schemas: Sequence[str] | None = None) -> ExitCode:
    """`migrator audit rls`: print the RLS holes of the target database; change nothing.

    `schemas` (`--schema`, repeatable) limits the audit to those schemas, which then
    also count as the exposed ones; without it every user schema is audited and
    `public` is the exposed schema. The catalog is read in a READ ONLY transaction that
    is rolled back.

    Exit codes: 0 when there is no error-severity finding (warnings alone still exit 0,
    so a pipeline fails only on IR-07's kind of hole, `rls_without_policy`); 1 when there
    is at least one; 2 when a schema asked for does not exist; 5 when the database
    cannot be reached (raised by `connect_engine` as `DatabaseUnreachable`).
    """
    from migrator.db.target import connect_engine, resolve_target

    target = resolve_target(ctx.dsn, announce=ctx.say)
    db = connect_engine(target)
    try:
        with db.connect() as conn, conn.begin() as tx:
            try:
                conn.exec_driver_sql("set transaction read only", {})
                asked = list(schemas) if schemas else None
                if asked is not None:
                    unknown = missing_schemas(conn, asked)
                    if unknown:
                        raise UsageError(f"no such schema: {', '.join(unknown)}")
                audited = asked if asked is not None else user_schemas(conn)
                exposed = asked if asked is not None else list(DEFAULT_EXPOSED_SCHEMAS)
                findings = find_rls_holes(conn, asked)
            finally:
                tx.rollback()
    finally:
        db.dispose()
    errors = any(f.severity == "error" for f in findings)
    code = ExitCode.CHECK_FAILED if errors else ExitCode.OK
    if ctx.output == "json":
        ctx.emit_json(
            findings_document(
                findings, schemas=audited, exposed_schemas=exposed, exit_code=int(code)
            )
        )
    else:
        from migrator.views.rlsaudit import render_findings

        render_findings(findings, summary_line(findings), ctx.out)
    return code
