"""`migrator.flags`: the default flag store, a table written in the step's transaction.

Applications read it too (the demo's app does, in its own transaction): its columns
are a contract, like the statuses of `kinds`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from migrator.state.schema import table_exists
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def read_flag(conn: Connection, name: str, missing: Any) -> Any:
    """The flag's value, its row locked until the transaction ends; `missing` when there
    is no such flag (or no table yet)."""
    if not table_exists(conn, "flags"):
        return missing
    row = conn.execute(
        text("select value from migrator.flags where name = :n for update"), {"n": name}
    ).first()
    return missing if row is None else row[0]


def write_flag(conn: Connection, name: str, value: Any, operator: str) -> None:
    """Create or replace the flag, saying who set it."""
    conn.execute(
        text(
            "insert into migrator.flags (name, value, updated_by) "
            "values (:n, cast(:v as jsonb), :by) on conflict (name) do update "
            "set value = excluded.value, updated_at = now(), updated_by = excluded.updated_by"
        ),
        {"n": name, "v": json.dumps(value), "by": operator},
    )


def delete_flag(conn: Connection, name: str) -> None:
    """Remove the flag (nothing happens if there is none)."""
    conn.execute(text("delete from migrator.flags where name = :n"), {"n": name})


def all_flags(conn: Connection) -> dict[str, Any]:
    """Every flag of the table, by name (none when there is no table yet)."""
    if not table_exists(conn, "flags"):
        return {}
    rows = conn.execute(text("select name, value from migrator.flags")).all()
    return {str(name): value for name, value in rows}
