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
    """The flag's value; `missing` when there is no such flag (or no table yet).

    In a transaction that may write (a `flag` step, its undo) the row stays locked until
    the transaction ends, so that no one changes the flag between its read and its write;
    in a read-only one (a check, a dry run) it is only read: a check takes no lock.
    """
    if not table_exists(conn, "flags"):
        return missing
    read_only = conn.execute(text("select current_setting('transaction_read_only')")).scalar()
    lock = "" if read_only == "on" else " for update"
    row = conn.execute(
        text(f"select value from migrator.flags where name = :n{lock}"), {"n": name}
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


# -- flags set from a secret ----------------------------------------------------------------
# `secret_flags` names the flags (by store and name: `table`, or `file:` and the file's
# path) whose value came from a secret: whoever reads one back masks it. `kept_flag_values`
# keeps what the undo of a step that changed such a flag needs (the value before, the value
# set), which its memo in the audit trail only points to.


def flag_is_secret(conn: Connection, store: str, name: str) -> bool:
    """Whether the flag's value came from a secret (False before the table exists)."""
    if not table_exists(conn, "secret_flags"):
        return False
    row = conn.execute(
        text("select 1 from migrator.secret_flags where store = :s and name = :n"),
        {"s": store, "n": name},
    ).first()
    return row is not None


def mark_flag_secret(conn: Connection, store: str, name: str, secret: bool) -> None:
    """Remember that the flag's value came from a secret, or that it no longer does."""
    if secret:
        conn.execute(
            text(
                "insert into migrator.secret_flags (store, name) values (:s, :n) "
                "on conflict (store, name) do update set marked_at = now()"
            ),
            {"s": store, "n": name},
        )
    else:
        conn.execute(
            text("delete from migrator.secret_flags where store = :s and name = :n"),
            {"s": store, "n": name},
        )


def secret_flag_values(conn: Connection) -> list[Any]:
    """The values of the table's flags that came from a secret, for a view to mask."""
    if not table_exists(conn, "secret_flags") or not table_exists(conn, "flags"):
        return []
    rows = conn.execute(
        text(
            "select f.value from migrator.flags f join migrator.secret_flags s "
            "on s.store = 'table' and s.name = f.name"
        )
    ).all()
    return [value for (value,) in rows]


def keep_flag_values(
    conn: Connection,
    run_id: int | None,
    store: str,
    name: str,
    *,
    previous: Any,
    existed: bool,
    previous_secret: bool,
    value: Any,
    value_secret: bool,
) -> int:
    """Keep what an undo of the flag's change needs; the id its memo names."""
    kept = conn.execute(
        text(
            "insert into migrator.kept_flag_values (run_id, store, name, existed, previous, "
            "previous_secret, value, value_secret) values (:r, :s, :n, :e, cast(:p as jsonb), "
            ":ps, cast(:v as jsonb), :vs) returning id"
        ),
        {
            "r": run_id,
            "s": store,
            "n": name,
            "e": existed,
            "p": json.dumps(previous) if existed else None,
            "ps": previous_secret,
            "v": json.dumps(value),
            "vs": value_secret,
        },
    ).scalar_one()
    return int(kept)


def kept_flag_values(conn: Connection, kept: int) -> dict[str, Any] | None:
    """What `keep_flag_values` kept under `kept` (None: nothing, or no table)."""
    if not table_exists(conn, "kept_flag_values"):
        return None
    row = conn.execute(
        text(
            "select store, name, existed, previous, previous_secret, value, value_secret "
            "from migrator.kept_flag_values where id = :k"
        ),
        {"k": kept},
    ).first()
    return None if row is None else dict(row._mapping)
