"""Catalog snapshots: what a database's schema looks like, as plain data to compare.

A `Snapshot` maps each kind of object (`table`, `column`, `index`, `constraint`,
`policy`, `trigger`, `function`, `type`, `schema`, `extension`, `grant`, `flag`) to
its objects, each keyed by a qualified name, each value a JSON-able description.
Two snapshots differ exactly where an object was added, removed or changed.

What is left out, on purpose: the `migrator` schema (the tool's own bookkeeping,
except the flag store's contents, which plans change), objects an extension owns,
column positions (an undo that drops and re-adds a column cannot restore them),
OIDs, sequence positions and table data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from migrator.state.flags import all_flags

Snapshot = dict[str, dict[str, Any]]

# Schemas that are never the application's own.
_SYSTEM = (
    "n.nspname not in ('pg_catalog', 'information_schema', 'migrator') "
    "and n.nspname !~ '^pg_(toast|temp)'"
)


def _not_extension(catalog: str, oid: str) -> str:
    """A condition: the object is not a member of an extension."""
    return (
        f"not exists (select 1 from pg_depend d where d.classid = '{catalog}'::regclass "
        f"and d.objid = {oid} and d.deptype = 'e')"
    )


def _unusual_not_null(of: str, prefix: str) -> str:
    """A JSON object to add to a column's or a domain's description: its not-null
    constraint's definition when there is more to it than `not_null` says, else nothing.

    PostgreSQL 18 keeps a table column's NOT NULL as a `pg_constraint` row too (contype
    'n'; 17 already a domain's), with a name, NOT VALID and NO INHERIT: one NOT NULL is
    one difference (the column's or the domain's, never a constraint besides), and these
    details show only when the constraint is unusual: NOT VALID, NO INHERIT, or named
    otherwise than PostgreSQL names one (`<table>_<column>_not_null`, `<domain>_not_null`,
    a digit added when taken; when that is too long PostgreSQL cuts it short, and any
    `..._not_null` passes). An inherited one (a partition's) bears its parent's name: usual.
    Before 17 (18 for columns) there is no such row: the object is `{}`."""
    plain_name = (
        f"(left(k.conname, length({prefix})) = {prefix} "
        f"and substr(k.conname, length({prefix}) + 1) ~ '^_not_null[0-9]*$') "
        f"or (octet_length({prefix} || '_not_null') > 63 and k.conname ~ '_not_null[0-9]*$')"
    )
    return f"""jsonb_strip_nulls(jsonb_build_object('not_null_constraint', (
            select 'CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
            from pg_constraint k
            where k.contype = 'n' and {of}
              and not (k.convalidated and not k.connoinherit
                       and (k.coninhcount > 0 and not k.conislocal or {plain_name})))))"""


_COLUMN_NOT_NULL = _unusual_not_null(
    "k.conrelid = a.attrelid and k.conkey = array[a.attnum]", "c.relname || '_' || a.attname"
)
_DOMAIN_NOT_NULL = _unusual_not_null("k.contypid = t.oid", "t.typname")

_DEFAULT_ACL = "acldefault((case c.relkind when 'S' then 's' else 'r' end)::\"char\", c.relowner)"

_QUERIES: dict[str, str] = {
    "schema": f"""
        select n.nspname, jsonb_build_object('owner', pg_get_userbyid(n.nspowner))
        from pg_namespace n where {_SYSTEM} and {_not_extension("pg_namespace", "n.oid")}
    """,
    "table": f"""
        select n.nspname || '.' || c.relname, jsonb_build_object(
            'kind', case c.relkind when 'r' then 'table' when 'p' then 'partitioned table'
                when 'v' then 'view' when 'm' then 'materialized view'
                when 'f' then 'foreign table' when 'S' then 'sequence' end,
            'owner', pg_get_userbyid(c.relowner),
            'row_level_security', c.relrowsecurity,
            'force_row_level_security', c.relforcerowsecurity,
            'definition', case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end,
            'options', c.reloptions)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and {_SYSTEM}
          and {_not_extension("pg_class", "c.oid")}
    """,
    "column": f"""
        select n.nspname || '.' || c.relname || '.' || a.attname, jsonb_build_object(
            'type', format_type(a.atttypid, a.atttypmod),
            'not_null', a.attnotnull,
            'default', pg_get_expr(ad.adbin, ad.adrelid),
            'identity', nullif(a.attidentity, ''),
            'generated', nullif(a.attgenerated, ''),
            'collation', case when a.attcollation <> t.typcollation
                then (select collname from pg_collation where oid = a.attcollation) end)
            || {_COLUMN_NOT_NULL}
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_type t on t.oid = a.atttypid
        left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
        where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and {_SYSTEM} and {_not_extension("pg_class", "c.oid")}
    """,
    "index": f"""
        select n.nspname || '.' || i.relname, to_jsonb(pg_get_indexdef(i.oid))
        from pg_index x
        join pg_class i on i.oid = x.indexrelid
        join pg_namespace n on n.oid = i.relnamespace
        where {_SYSTEM} and {_not_extension("pg_class", "x.indrelid")}
    """,
    "constraint": f"""
        select n.nspname || '.' || coalesce(c.relname, t.typname) || '.' || k.conname,
            to_jsonb(pg_get_constraintdef(k.oid))
        from pg_constraint k
        join pg_namespace n on n.oid = k.connamespace
        left join pg_class c on c.oid = k.conrelid
        left join pg_type t on t.oid = k.contypid
        where k.contype <> 'n' and {_SYSTEM} and {_not_extension("pg_constraint", "k.oid")}
          and (c.oid is null or {_not_extension("pg_class", "c.oid")})
    """,
    "policy": f"""
        select n.nspname || '.' || c.relname || '.' || p.polname, jsonb_build_object(
            'command', case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT'
                when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end,
            'permissive', p.polpermissive,
            'roles', (select coalesce(jsonb_agg(r order by r), '[]') from (
                select case when x = 0 then 'public' else pg_get_userbyid(x) end as r
                from unnest(p.polroles) as x) roles),
            'using', pg_get_expr(p.polqual, p.polrelid),
            'with_check', pg_get_expr(p.polwithcheck, p.polrelid))
        from pg_policy p
        join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace
        where {_SYSTEM}
    """,
    "trigger": f"""
        select n.nspname || '.' || c.relname || '.' || g.tgname,
            jsonb_build_object('definition', pg_get_triggerdef(g.oid),
                'enabled', g.tgenabled)
        from pg_trigger g
        join pg_class c on c.oid = g.tgrelid
        join pg_namespace n on n.oid = c.relnamespace
        where not g.tgisinternal and {_SYSTEM}
    """,
    "function": f"""
        select n.nspname || '.' || p.proname || '(' ||
                pg_get_function_identity_arguments(p.oid) || ')',
            jsonb_build_object('definition', pg_get_functiondef(p.oid),
                'owner', pg_get_userbyid(p.proowner))
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prokind in ('f', 'p') and {_SYSTEM} and {_not_extension("pg_proc", "p.oid")}
    """,
    "type": f"""
        select n.nspname || '.' || t.typname, jsonb_build_object(
            'kind', case t.typtype when 'e' then 'enum' when 'd' then 'domain' end,
            'labels', (select jsonb_agg(e.enumlabel order by e.enumsortorder)
                from pg_enum e where e.enumtypid = t.oid),
            'base', case when t.typtype = 'd'
                then format_type(t.typbasetype, t.typtypmod) end,
            'not_null', t.typnotnull,
            'default', t.typdefault)
            || {_DOMAIN_NOT_NULL}
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where t.typtype in ('e', 'd') and {_SYSTEM} and {_not_extension("pg_type", "t.oid")}
    """,
    "extension": """
        select e.extname, jsonb_build_object('version', e.extversion,
            'schema', e.extnamespace::regnamespace::text)
        from pg_extension e
    """,
    # Privileges as (grantee, privilege) sets: an explicit ACL equal to the default
    # one compares equal to no ACL at all (a GRANT undone by its REVOKE).
    "grant": f"""
        select n.nspname || '.' || c.relname || ' to ' ||
                case when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee) end,
            (select jsonb_agg(distinct x.privilege_type order by x.privilege_type)
             from aclexplode(coalesce(c.relacl, {_DEFAULT_ACL})) x
             where x.grantee = a.grantee)
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        cross join lateral (
            select distinct y.grantee from aclexplode(coalesce(c.relacl, {_DEFAULT_ACL})) y) a
        where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and {_SYSTEM}
          and {_not_extension("pg_class", "c.oid")}
    """,
}

KINDS: tuple[str, ...] = (*_QUERIES, "flag")


def snapshot(conn: Connection, flags: dict[str, Any] | None = None) -> Snapshot:
    """The schema of the database `conn` is connected to, and the flag store's contents.

    `flags` are flags kept outside the database (`location:name` -> value), added as is.
    """
    taken: Snapshot = {}
    for kind, query in _QUERIES.items():
        rows = conn.execute(text(query)).all()
        taken[kind] = {str(key): value for key, value in rows}
    taken["flag"] = {f"table:{name}": value for name, value in all_flags(conn).items()}
    taken["flag"].update(flags or {})
    return taken


def _cut(text_: str, limit: int) -> str:
    """Cut to `limit` characters: for text that holds no secret (tests, a schema alone)."""
    return text_ if len(text_) <= limit else text_[: limit - 3] + "..."


@dataclass(frozen=True)
class Difference:
    """One object that is not the same in two snapshots."""

    kind: str
    key: str
    change: str  # added, removed or changed
    before: Any  # None when added
    after: Any  # None when removed
    # How a value is cut short for a person: masked before it is cut (Secrets.shorten)
    shorten: Callable[[str, int], str] = field(default=_cut, compare=False, repr=False)

    @property
    def names(self) -> list[str]:
        """The names a plan would use for this object, the most specific first.

        `public.scores.scores_value_idx` gives `scores_value_idx`, then `scores`.
        """
        if self.kind == "flag":
            return [self.key.split(":", 1)[1] if ":" in self.key else self.key]
        if self.kind == "grant":
            table, _, role = self.key.partition(" to ")
            return [table.rsplit(".", 1)[-1], role]
        if self.kind == "function":
            return [self.key.split("(", 1)[0].rsplit(".", 1)[-1]]
        parts = self.key.split(".")
        return [parts[i] for i in range(len(parts) - 1, 0, -1)] or parts

    def describe(self) -> str:
        what = f"{self.kind} {self.key}"
        if self.change == "added":
            return f"{what} is there and was not before"
        if self.change == "removed":
            return f"{what} is missing"
        changed = _changed_fields(self.before, self.after, self.shorten)
        return f"{what} changed" + (f" ({changed})" if changed else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "object": self.key,
            "change": self.change,
            "before": self.before,
            "after": self.after,
            "description": self.describe(),
        }


def _changed_fields(before: Any, after: Any, shorten: Callable[[str, int], str]) -> str:
    def shown(value: Any) -> str:
        return shorten(json.dumps(value, default=str), 80)

    if isinstance(before, dict) and isinstance(after, dict):
        return "; ".join(
            f"{k}: {shown(before.get(k))} -> {shown(after.get(k))}"
            for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)
        )
    return f"{shown(before)} -> {shown(after)}"


def compare(
    before: Snapshot, after: Snapshot, shorten: Callable[[str, int], str] = _cut
) -> list[Difference]:
    """Every object added, removed or changed from `before` to `after`, in a stable order;
    `shorten` cuts the values a difference shows (pass the run's `Secrets.shorten`)."""
    found: list[Difference] = []
    for kind in KINDS:
        old, new = before.get(kind, {}), after.get(kind, {})
        for key in sorted(set(old) | set(new)):
            if key not in old:
                found.append(Difference(kind, key, "added", None, new[key], shorten))
            elif key not in new:
                found.append(Difference(kind, key, "removed", old[key], None, shorten))
            elif old[key] != new[key]:
                found.append(Difference(kind, key, "changed", old[key], new[key], shorten))
    return found


def mentions(text_: str, name: str) -> bool:
    """Whether `text_` names `name` as a whole word (case-insensitive), quoted or not."""
    pattern = r"(?<![A-Za-z0-9_$])" + re.escape(name) + r"(?![A-Za-z0-9_$])"
    return re.search(pattern, text_, re.IGNORECASE) is not None
