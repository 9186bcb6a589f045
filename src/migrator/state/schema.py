"""Schema `migrator`: created on first use, upgraded in order, its version recorded.

Each version is a file of `migrations/`, `0001_initial.sql`, `0002_....sql` and so on,
shipped inside the package; version N is the N-th file. The version a database is at
lives in `migrator.schema_version`. A released migration is never edited: a change is a
new file.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

from migrator.errors import MigratorError
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

SCHEMA = "migrator"
_SCHEMA_LOCK = 0x6D6967726174  # "migrat": serializes schema creation across processes
_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


def _migrations() -> tuple[str, ...]:
    """The text of every migration, version 1 first; their numbers must run 1, 2, 3..."""
    folder = resources.files(__package__).joinpath("migrations")
    named = sorted(
        (int(m.group(1)), f.read_text(encoding="utf-8"))
        for f in folder.iterdir()
        if (m := _NAME.fullmatch(f.name))
    )
    numbers = [n for n, _ in named]
    if numbers != list(range(1, len(named) + 1)):
        raise RuntimeError(f"migrator's schema migrations are not numbered 1..n: {numbers}")
    return tuple(sql for _, sql in named)


MIGRATIONS: tuple[str, ...] = _migrations()
SCHEMA_VERSION = len(MIGRATIONS)


def table_exists(conn: Connection, table: str) -> bool:
    """Whether `migrator.<table>` exists (it does not before the first run)."""
    return bool(
        conn.execute(
            text("select to_regclass(:t) is not null"), {"t": f"{SCHEMA}.{table}"}
        ).scalar()
    )


def schema_exists(conn: Connection) -> bool:
    return table_exists(conn, "schema_version")


def ensure_schema(conn: Connection) -> int:
    """Create or upgrade schema `migrator`; safe when several processes start at once."""
    with conn.begin():
        conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
        current = 0
        if schema_exists(conn):
            current = int(
                conn.execute(text("select max(version) from migrator.schema_version")).scalar() or 0
            )
        if current > SCHEMA_VERSION:
            raise MigratorError(
                f"schema migrator is at version {current}, newer than this migrator "
                f"understands ({SCHEMA_VERSION}): upgrade migrator"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.exec_driver_sql(MIGRATIONS[version - 1])
            conn.execute(
                text("insert into migrator.schema_version (version) values (:v)"), {"v": version}
            )
    return SCHEMA_VERSION
