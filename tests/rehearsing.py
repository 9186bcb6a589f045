"""What the tests of `migrator rehearse` share: the versions of the servers they run on, and
the pg_dump that fits the test server as a scratch server.

The tests run on whatever major the session's server is (MIGRATOR_TEST_PG); what differs
between majors is asked of the server (`server_version_num`), never written as a literal.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest


def server_version_num(dsn: str) -> int:
    """`server_version_num` of the server at `dsn` (150019 for 15.19)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0])


def server_major(dsn: str) -> int:
    return server_version_num(dsn) // 10000


def server_version(dsn: str) -> str:
    """`15.19`: the first word of `server_version`, as rehearse reports it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("show server_version").fetchone()
    assert row is not None
    return str(row[0]).split()[0]


def own_programs(dsn: str) -> Path:
    """The folder of the programs of the server at `dsn` (where its `postgres` runs from)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        try:  # while connected: the backend is a child of the server's postgres
            exe = Path(os.readlink(f"/proc/{row[0]}/exe"))
        except OSError as exc:
            pytest.skip(f"the test server's programs cannot be found here: {exc}")
    return exe.parent


def fitting_pg_dump(dsn: str) -> list[str]:
    """The options that let rehearse use the server at `dsn` as its scratch server: none
    when the embedded pg_dump fits it (the same major), else `--pg-dump` to its own."""
    from migrator.db import embedded

    if server_major(dsn) == embedded.major():
        return []
    return ["--pg-dump", str(own_programs(dsn) / "pg_dump")]


def fake_pg_dump(folder: Path, version: str, output: str = "") -> Path:
    """A stand-in pg_dump program: answers --version, prints `output` as the dump."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "pg_dump"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) {version}"; exit 0; fi\n'
        f"cat <<'EOF'\n{output}\nEOF\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def scratch_databases(admin_dsn: str) -> set[str]:
    """The names of the scratch databases on a server."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select datname from pg_database where datname like 'migrator_rehearse_%'"
        ).fetchall()
    return {r[0] for r in rows}
