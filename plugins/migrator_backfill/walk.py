"""The SQL of a keyset walk over the driving table: where it starts, where a batch ends.

A batch's last key comes from an index range scan of `batch_size` keys
(`... order by key offset n - 1 limit 1`): cheap, no aggregate, and no key ever
travels into Python except the bounds themselves, as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from migrator.plugin import Statement, checkpoint_position_sql, statements

EXACT_COUNT_BELOW = 2_000_000  # estimated rows under which counting exactly is cheap


class BackfillError(Exception):
    """A backfill that cannot go on (a changed statement, a key of an unusable type)."""


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Walk:
    """The keyset walk of one backfill: its SQL, prepared once."""

    table_sql: str
    key_sql: str
    key_type: str
    bound: Statement  # the last key of a full batch
    tail: Statement  # the last key and size of the final, partial batch
    bound_upto: Statement  # the last key of a full batch that ends at :batch_upto at the latest
    count_upto: Statement  # the rows up to :batch_upto (a batch clipped there)
    tail_upto: Statement  # the last key up to :batch_upto, and the rows up to it (the walk's end)
    statement: Statement
    count_sql: str
    order_sql: str  # sorts text keys (%(keys)s, a JSON array) in the key's own order
    covers_sql: str  # whether the checkpoint of %(run)s, %(step)s says (%(lo)s, %(hi)s] is done


def prepare(conn: Any, table: str, key: str, where: str | None, statement: str) -> Walk:
    row = conn.exec_driver_sql(
        "select n.nspname, c.relname, format_type(a.atttypid, a.atttypmod), "
        "format_type(a.atttypid, null), "
        "(select quote_ident(cn.nspname) || '.' || quote_ident(co.collname) "
        " from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace "
        " where co.oid = a.attcollation) "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "left join pg_attribute a on a.attrelid = c.oid and a.attname = %(k)s "
        "and not a.attisdropped where c.oid = to_regclass(%(t)s)",
        {"t": table, "k": key},
    ).first()
    if row is None:
        raise BackfillError(f"table {table} does not exist")
    if row[2] is None:
        raise BackfillError(f"table {table} has no column {key}")
    table_sql = f"{quote_ident(row[0])}.{quote_ident(row[1])}"
    key_sql = quote_ident(key)
    filtered = f" and ({where})" if where else ""
    after = f"from {table_sql} where {key_sql} > :lo{filtered}"
    upto = f"from {table_sql} where {key_sql} > :lo and {key_sql} <= :batch_upto{filtered}"
    # named apart from the key, so that ORDER BY sorts by the column, not by its text
    nth = f"order by {key_sql} offset :batch_rows - 1 limit 1"
    (bound,) = statements(f"select {key_sql}::text as bound {after} {nth}")
    (tail,) = statements(
        f"select (select {key_sql}::text as bound {after} order by {key_sql} desc limit 1), "
        f"(select count(*) {after})"
    )
    (bound_upto,) = statements(f"select {key_sql}::text as bound {upto} {nth}")
    (count_upto,) = statements(f"select count(*) {upto}")
    (tail_upto,) = statements(
        f"select (select {key_sql}::text as bound {upto} order by {key_sql} desc limit 1), "
        f"(select count(*) {upto})"
    )
    found = statements(statement)
    if len(found) != 1:
        raise BackfillError("the backfill statement must be one SQL statement")
    count_sql = f"select count(*) from {table_sql} where true" + (
        f" and ({where})" if where else ""
    )
    # The type and collation come from the catalog, never from the plan.
    collate = f" collate {row[4]}" if row[4] else ""
    order_sql = (
        "select k from jsonb_array_elements_text(cast(%(keys)s as jsonb)) as k "
        f"order by cast(k as {row[3]}){collate}"
    )

    def typed(text: str) -> str:
        return f"cast({text} as {row[3]}){collate}"

    # A range handed out never straddles the mark or a done range: it is done exactly
    # when it lies at or below the mark, or inside one done range.
    mark, hi, lo = typed("c.position->>'key'"), typed("%(hi)s"), typed("%(lo)s")
    covers_sql = (
        f"select coalesce((select {hi} <= {mark} "
        "or exists (select 1 from jsonb_array_elements(coalesce(c.position->'done', "
        f"'[]'::jsonb)) d where {typed('d->>0')} <= {lo} and {hi} <= {typed('d->>1')}) "
        f"from ({checkpoint_position_sql()}) as c), false)"
    )
    return Walk(
        table_sql,
        key_sql,
        str(row[2]),
        bound,
        tail,
        bound_upto,
        count_upto,
        tail_upto,
        found[0],
        count_sql,
        order_sql,
        covers_sql,
    )


_INTEGERS = {"smallint", "integer", "bigint"}
_NUMBERS = {"numeric", "real", "double precision"}


def start(conn: Any, walk: Walk) -> str | None:
    """A key below every key of the table: the exclusive bound of the first batch."""
    kind = walk.key_type.split("(")[0].strip()
    first = f"from {walk.table_sql} order by {walk.key_sql} limit 1"
    smallest = conn.exec_driver_sql(f"select {walk.key_sql}::text as bound {first}", {}).scalar()
    if smallest is None:
        return None  # an empty table: nothing to do
    if kind in _INTEGERS or kind.startswith("numeric") or kind in _NUMBERS:
        try:
            below = conn.exec_driver_sql(
                f"select ({walk.key_sql} - 1)::text as bound {first}", {}
            ).scalar()
        except Exception as exc:
            raise BackfillError(f"cannot start below the smallest key {smallest}") from exc
        return str(below)
    if kind == "uuid":
        begin = "00000000-0000-0000-0000-000000000000"
    elif kind in ("text", "character varying", "character", "name", "citext"):
        begin = ""
    elif kind.startswith("timestamp") or kind == "date":
        return "-infinity"
    else:
        raise BackfillError(
            f"the key {walk.key_sql} is of type {walk.key_type}: use an integer, numeric, "
            "uuid, text, date or timestamp key"
        )
    if smallest == begin:
        raise BackfillError(f"the smallest key is {begin!r}: nothing sorts below it")
    return begin


def last(conn: Any, walk: Walk) -> str | None:
    """The largest key of the driving table now (None: it is empty): where a walk that
    does not follow the table ends."""
    found = conn.exec_driver_sql(
        f"select {walk.key_sql}::text as bound from {walk.table_sql} "
        f"order by {walk.key_sql} desc limit 1",
        {},
    ).scalar()
    return None if found is None else str(found)


def total(
    conn: Any, walk: Walk, variables: dict[str, Any], end: str | None = None
) -> tuple[int, bool]:
    """(rows, estimated) up to key `end` (all: None): an exact count when cheap, else the
    planner's estimate."""
    sql = walk.count_sql
    if end is not None:
        sql += f" and {walk.key_sql} <= :batch_end"
        variables = {**variables, "batch_end": end}
    (count,) = statements(sql)
    explain = conn.exec_driver_sql(
        "explain (format json) " + count.driver_sql, count.bind(variables)
    ).scalar()
    plan = explain[0]["Plan"] if not isinstance(explain, str) else json.loads(explain)[0]["Plan"]
    estimate = int(plan.get("Plans", [plan])[0].get("Plan Rows", plan.get("Plan Rows", 0)))
    if estimate < EXACT_COUNT_BELOW:
        exact = conn.exec_driver_sql(count.driver_sql, count.bind(variables)).scalar()
        return int(exact or 0), False
    return estimate, True


def probe(
    conn: Any,
    walk: Walk,
    variables: dict[str, Any],
    lo: str,
    size: int,
    upto: str | None = None,
    last: bool = False,
) -> tuple[str, int] | None:
    """The batch after `lo`: (its last key, its rows); None when no row is left.

    With `upto` the batch ends there at the latest (a range already done starts
    after it): then it is never None, and (upto, rows) when fewer keys remain. With
    `last`, `upto` is the walk's end instead: a batch ends at its last row, and None
    when no row is left up to it.
    """
    params = {**variables, "lo": lo, "batch_rows": size}
    if upto is None:
        hi = conn.exec_driver_sql(walk.bound.driver_sql, walk.bound.bind(params)).scalar()
        if hi is not None:
            return str(hi), size
        hi, rows = conn.exec_driver_sql(walk.tail.driver_sql, walk.tail.bind(params)).one()
        return (str(hi), int(rows)) if hi is not None else None
    params["batch_upto"] = upto
    statement = walk.bound_upto
    hi = conn.exec_driver_sql(statement.driver_sql, statement.bind(params)).scalar()
    if hi is not None:
        return str(hi), size
    if last:
        tail = walk.tail_upto
        hi, rows = conn.exec_driver_sql(tail.driver_sql, tail.bind(params)).one()
        return (str(hi), int(rows)) if hi is not None else None
    count = walk.count_upto
    rows = conn.exec_driver_sql(count.driver_sql, count.bind(params)).scalar()
    return upto, int(rows or 0)


def in_key_order(conn: Any, walk: Walk, keys: list[str]) -> list[str]:
    """`keys` (text) sorted as the key column sorts them (its type and collation)."""
    if len(keys) < 2:
        return list(keys)
    rows = conn.exec_driver_sql(walk.order_sql, {"keys": json.dumps(keys)}).all()
    return [str(r[0]) for r in rows]
