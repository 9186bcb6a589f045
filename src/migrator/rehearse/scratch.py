"""A scratch copy of a database: its schema, the roles it names, and a sample of its data.

The schema is copied with `pg_dump --schema-only` (which one, and onto which server, is
chosen by their versions: `versions`) and restored with a `psql`. The source is only
read: every query on it runs in a READ ONLY transaction, and pg_dump only reads.
Passwords reach pg_dump and psql through the environment (`PGPASSWORD`), never their
command line.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from migrator.rehearse.versions import ScratchError as ScratchError  # raised here too
from migrator.rehearse.versions import Tool

_SYSTEM = (
    "n.nspname not in ('pg_catalog', 'information_schema', 'migrator') "
    "and n.nspname !~ '^pg_(toast|temp)'"
)
_MEMBER_OF_EXTENSION = (
    "exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass "
    "and d.objid = c.oid and d.deptype = 'e')"
)
DUMP_TIMEOUT = 600.0


@dataclass(frozen=True)
class Sample:
    """How much data to copy: `rows` per table, or `percent` of each table's rows."""

    rows: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> Sample:
        """`N` rows per table, or `P%` of each table (0 < P <= 100)."""
        shown = text.strip()
        try:
            if shown.endswith("%"):
                percent = float(shown[:-1])
                if not 0 < percent <= 100:
                    raise ValueError
                return cls(percent=percent)
            rows = int(shown)
            if rows < 0:
                raise ValueError
            return cls(rows=rows)
        except ValueError:
            raise ScratchError(
                f"--sample {text!r}: write a number of rows per table (100) or a percentage (5%)"
            ) from None

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{self.percent:g}% of each table's rows"
        return f"up to {self.rows} rows per table"


@dataclass
class ScratchDatabase:
    """A database made for one rehearsal on the scratch server."""

    name: str
    dsn: str  # may hold the scratch server's password: never show it
    admin_dsn: str
    roles_created: list[str] = field(default_factory=list)
    rows_copied: dict[str, int] = field(default_factory=dict)


# -- tools ------------------------------------------------------------------------------------


def libpq_args(dsn: str) -> tuple[str, dict[str, str]]:
    """A conninfo without the password, and the environment that carries it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    password = params.pop("password", None)
    env = {**os.environ, "PGAPPNAME": "migrator rehearse", "PGCONNECT_TIMEOUT": "10"}
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "error" in line or "FATAL" in line]
    return (errors or lines or ["no message"])[0]


# -- the source -------------------------------------------------------------------------------


@contextmanager
def read_only(dsn: str) -> Iterator[Any]:
    """A psycopg connection whose every transaction is READ ONLY."""
    import psycopg

    with psycopg.connect(
        dsn, connect_timeout=10, application_name="migrator rehearse", prepare_threshold=None
    ) as conn:
        conn.read_only = True
        yield conn


def dump_schema(pg_dump: Tool, dsn: str, scrub: Any) -> str:
    """The schema of the database at `dsn` as SQL (schema `migrator` left out)."""
    conninfo, env = libpq_args(dsn)
    argv = [
        str(pg_dump.path),
        "--schema-only",
        "--exclude-schema=migrator",
        "--no-publications",
        "--no-subscriptions",
        "--no-tablespaces",
        "--no-security-labels",
        "--dbname",
        conninfo,
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=DUMP_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise ScratchError(f"pg_dump could not copy the schema: {scrub(_first_error(done.stderr))}")
    return done.stdout


_META_COMMAND = re.compile(r"^\\(restrict|unrestrict)\b.*$", re.MULTILINE)


def restore(
    psql: Tool,
    dsn: str,
    schema_sql: str,
    scrub: Any,
    failure: str = "the schema could not be restored in the scratch database",
) -> None:
    """Run a schema dump (or sample rows: `failure` says which) in the scratch database,
    with psql, in one transaction, stopping at an error."""
    conninfo, env = libpq_args(dsn)
    argv = [
        str(psql.path),
        "--no-psqlrc",
        "--quiet",
        "--single-transaction",
        "--set",
        "ON_ERROR_STOP=1",
        "--dbname",
        conninfo,
    ]
    # Newer pg_dumps guard their output with \restrict, which an older psql does not know.
    text = _META_COMMAND.sub("", schema_sql)
    done = subprocess.run(
        argv,
        input=text,
        capture_output=True,
        text=True,
        env=env,
        timeout=DUMP_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise ScratchError(f"{failure}: {scrub(_first_error(done.stderr))}")


# -- roles ------------------------------------------------------------------------------------

_REFERENCED_ROLES = f"""
with refs(oid) as (
    select c.relowner from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where {_SYSTEM}
    union select n.nspowner from pg_namespace n where {_SYSTEM}
    union select p.proowner from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where {_SYSTEM}
    union select t.typowner from pg_type t join pg_namespace n on n.oid = t.typnamespace
        where {_SYSTEM}
    union select unnest(p.polroles) from pg_policy p join pg_class c on c.oid = p.polrelid
        join pg_namespace n on n.oid = c.relnamespace where {_SYSTEM}
    union select (aclexplode(c.relacl)).grantee from pg_class c
        join pg_namespace n on n.oid = c.relnamespace where {_SYSTEM}
    union select (aclexplode(c.relacl)).grantor from pg_class c
        join pg_namespace n on n.oid = c.relnamespace where {_SYSTEM}
    union select (aclexplode(a.attacl)).grantee from pg_attribute a
        join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where a.attacl is not null and {_SYSTEM}
    union select (aclexplode(n.nspacl)).grantee from pg_namespace n where {_SYSTEM}
    union select (aclexplode(p.proacl)).grantee from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace where {_SYSTEM}
    union select (aclexplode(t.typacl)).grantee from pg_type t
        join pg_namespace n on n.oid = t.typnamespace where {_SYSTEM}
    union select d.defaclrole from pg_default_acl d
    union select (aclexplode(d.defaclacl)).grantee from pg_default_acl d
)
select r.rolname, r.rolinherit, r.rolbypassrls from pg_roles r
where r.oid in (select oid from refs) and r.rolname !~ '^pg_'
order by r.rolname
"""


def referenced_roles(conn: Any) -> list[tuple[str, bool, bool]]:
    """(name, inherit, bypassrls) of every role the schema names: owners, grantees, policies."""
    with conn.transaction():
        return [(str(r[0]), bool(r[1]), bool(r[2])) for r in conn.execute(_REFERENCED_ROLES)]


def create_missing_roles(admin_dsn: str, roles: list[tuple[str, bool, bool]]) -> list[str]:
    """Create (NOLOGIN) the roles the scratch server lacks; the names of those created.

    Roles belong to the whole server: they stay after the scratch database is dropped.
    """
    import psycopg
    from psycopg import errors, sql

    created: list[str] = []
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        existing = {
            r[0]
            for r in conn.execute(
                "select rolname from pg_roles where rolname = any(%s)", ([r[0] for r in roles],)
            )
        }
        for name, inherit, bypassrls in roles:
            if name in existing:
                continue
            options = ["NOLOGIN", "INHERIT" if inherit else "NOINHERIT"]
            if bypassrls:
                options.append("BYPASSRLS")
            statement = sql.SQL("CREATE ROLE {} " + " ".join(options)).format(sql.Identifier(name))
            try:
                conn.execute(statement)
            except errors.DuplicateObject:
                continue  # another process made it meanwhile
            created.append(name)
    return created


# -- the scratch database ---------------------------------------------------------------------


def scratch_name(plan: str, pid: int | None = None) -> str:
    """`migrator_rehearse_<plan>_<pid>`, a valid identifier of at most 63 bytes."""
    slug = re.sub(r"[^a-z0-9]+", "_", plan.lower()).strip("_") or "plan"
    return f"migrator_rehearse_{slug[:32]}_{os.getpid() if pid is None else pid}"


def _with_database(dsn: str, name: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, dbname=name)


def create_database(admin_dsn: str, plan: str) -> ScratchDatabase:
    """A new, empty database (from template0) on the scratch server."""
    import psycopg
    from psycopg import sql

    base = scratch_name(plan)
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        name, n = base, 1
        while conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
            n += 1
            name = f"{base}_{n}"
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return ScratchDatabase(name, _with_database(admin_dsn, name), admin_dsn)


def drop_database(scratch: ScratchDatabase) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(scratch.admin_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch.name))
        )


# -- data -------------------------------------------------------------------------------------

_TABLES = f"""
select n.nspname, c.relname,
    array_agg(a.attname order by a.attnum) filter (where a.attname is not null)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    and a.attgenerated = ''
where c.relkind = 'r' and {_SYSTEM} and not {_MEMBER_OF_EXTENSION}
group by n.nspname, c.relname
order by n.nspname, c.relname
"""

_SEQUENCES = f"""
select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'S' and {_SYSTEM} and not {_MEMBER_OF_EXTENSION}
order by 1, 2
"""


def copy_sample(source: Any, scratch_dsn: str, sample: Sample) -> dict[str, int]:
    """Copy a sample of every table's rows with COPY, in one transaction on the scratch side.

    Foreign keys and triggers are not enforced while copying (`session_replication_role
    = replica`): a sample of a child table may name parent rows that were not sampled.
    Sequences are set where the source's are, so new rows do not collide.
    Returns the rows copied per table.
    """
    import psycopg
    from psycopg import sql

    copied: dict[str, int] = {}
    with source.transaction():
        tables = source.execute(_TABLES).fetchall()
        sequences = source.execute(_SEQUENCES).fetchall()
        with psycopg.connect(scratch_dsn, connect_timeout=10) as target, target.transaction():
            target.execute("set local session_replication_role = replica")
            for schema, table, columns in tables:
                if not columns:
                    continue
                name = sql.Identifier(schema, table)
                cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
                if sample.percent is not None:
                    query = sql.SQL("select {} from only {} tablesample bernoulli ({})").format(
                        cols, name, sql.Literal(sample.percent)
                    )
                else:
                    query = sql.SQL("select {} from only {} limit {}").format(
                        cols, name, sql.Literal(sample.rows)
                    )
                with (
                    source.cursor().copy(sql.SQL("copy ({}) to stdout").format(query)) as out,
                    target.cursor().copy(
                        sql.SQL("copy {} ({}) from stdin").format(name, cols)
                    ) as into,
                ):
                    for block in out:
                        into.write(block)
                count = target.execute(sql.SQL("select count(*) from only {}").format(name))
                copied[f"{schema}.{table}"] = int(count.fetchone()[0])  # type: ignore[index]
            for schema, seq in sequences:
                name = sql.Identifier(schema, seq)
                row = source.execute(
                    sql.SQL("select last_value, is_called from {}").format(name)
                ).fetchone()
                if row is not None:
                    target.execute(
                        "select setval(format('%%I.%%I', %s::text, %s::text)::regclass, %s, %s)",
                        (schema, seq, *row),
                    )
    return copied
