"""`expect: {equals_query: SQL}`: the two queries compared in the database.

Both queries become subqueries of one statement that counts their rows and the rows
of each `EXCEPT ALL` the other (multisets: a duplicate counts), and fetches the first
few differences as text. No result set reaches this process: its memory is the same
for ten rows or ten million. Both run in the check's one REPEATABLE READ snapshot.

Columns compare by position, as in SQL's EXCEPT (their names do not matter). A column
of the same type on both sides compares with that type's own equality; a column whose
type has none (json, point, xml, a composite, arrays of those) or whose types differ
between the two queries compares as jsonb (`to_jsonb`): numbers by value, text and
everything else by its text form, json as jsonb (whitespace and key order do not count).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from migrator import CheckOutcome
from migrator.plugin import execute, statements

SHOWN = 3  # differences fetched and shown from each side
KEY_COLUMNS = 4  # at most this many first columns tried as the key that pairs rows
KEPT = 2000  # characters of a value kept in a difference (the rows stay in the database)
_QUERY = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(select|values|table|with|\()", re.I | re.S
)

# For each type (by oid): whether EXCEPT can compare it with its own equality, as
# PostgreSQL decides it. Domains are their base type, arrays their element type; a base
# type needs a default btree or hash operator class, its own or one of a type it is
# implicitly binary-coercible to (varchar uses text's; xml, whose cast to text is not
# implicit, has none); enums and ranges have one; composites are compared as jsonb
# (their fields may have no equality, found only while comparing).
_NATIVE = """
with recursive walk(root, type) as (
    select t, t from unnest(cast(:oids as oid[])) as t
  union all
    select w.root, case when p.typtype = 'd' then p.typbasetype else p.typelem end
    from walk w join pg_type p on p.oid = w.type
    where p.typtype = 'd' or (p.typcategory = 'A' and p.typelem <> 0 and p.typlen = -1)
)
select w.root, bool_and(
    p.typtype in ('e', 'r', 'm')
    or (p.typtype = 'b' and exists (
        select from pg_opclass c join pg_am a on a.oid = c.opcmethod
        where a.amname in ('btree', 'hash') and c.opcdefault
          and (c.opcintype = p.oid or exists (
              select from pg_cast k
              where k.castsource = p.oid and k.casttarget = c.opcintype and k.castmethod = 'b'
                and k.castcontext = 'i'))))
)
from walk w join pg_type p on p.oid = w.type
where not (p.typtype = 'd' or (p.typcategory = 'A' and p.typelem <> 0 and p.typlen = -1))
group by w.root
"""


@dataclass(frozen=True)
class Columns:
    """What a query returns: its columns' names and type oids."""

    names: tuple[str, ...]
    types: tuple[int, ...]

    def __str__(self) -> str:
        count = len(self.names)
        return f"{count} column{'s' if count != 1 else ''}: {', '.join(self.names) or 'none'}"


def one_query(sql: str, what: str) -> str | None:
    """The text of `sql`'s one query; None when it is not one query (see `problem`)."""
    found = statements(sql)
    if len(found) == 1 and _QUERY.match(found[0].text):
        return found[0].text
    return None


def problem(sql: str, what: str) -> str:
    found = statements(sql)
    if len(found) != 1:
        return (
            f"equals_query compares one query with another: {what} has "
            f"{len(found)} statements (write it as one SELECT, VALUES, TABLE or WITH)"
        )
    return f"equals_query compares queries: {what} is not one (SELECT, VALUES, TABLE or WITH)"


def compare(
    connection: Any,
    check_sql: str,
    other_sql: str,
    variables: Mapping[str, Any],
    shorten: Callable[..., str] | None = None,
) -> CheckOutcome:
    """The outcome of `expect: {equals_query: other_sql}` on the check's `check_sql`.
    `shorten`: the check context's (masks, then cuts a value kept in `differences`)."""
    left_text = one_query(check_sql, "the check's query")
    right_text = one_query(other_sql, "equals_query")
    if left_text is None or right_text is None:
        which = "the check's query" if left_text is None else "equals_query"
        sql = check_sql if left_text is None else other_sql
        return CheckOutcome(False, None, "the same rows", problem(sql, which))
    left = _describe(connection, left_text, variables)
    right = _describe(connection, right_text, variables)
    if len(left.names) != len(right.names):
        return CheckOutcome(
            False,
            str(left),
            str(right),
            f"the check's query returns {len(left.names)} columns and equals_query "
            f"{len(right.names)}: rows of different widths are never the same",
        )
    native = _native_types(connection, set(left.types) | set(right.types))
    as_is = [a == b and native.get(a, False) for a, b in zip(left.types, right.types, strict=True)]
    sql = _comparison(left_text, right_text, as_is)
    row = execute(connection, sql, variables).one()
    left_rows, right_rows, only_left, only_right = row[:4]
    rows = f"{left_rows} row{'s' if left_rows != 1 else ''}"
    expected = f"the same {right_rows} row{'s' if right_rows != 1 else ''}"
    if not only_left and not only_right:
        return CheckOutcome(True, rows, expected, "")
    labels = _labels(left.names, right.names)
    width = max(int(row[4]), 1)  # the key's columns: those that pair the rows, else the first
    pairs, left_alone, right_alone = (_json(v) for v in row[5:])
    keep = _Keep(shorten)
    differences = tuple(
        [_paired(labels, width, keep(a), keep(b)) for a, b in pairs]
        + [_alone("query", labels, width, keep(r)) for r in left_alone]
        + [_alone("equals_query", labels, width, keep(r)) for r in right_alone]
    )
    parts = [f"{left_rows} row{'s' if left_rows != 1 else ''} against {right_rows}"]
    if only_left:
        parts.append(_count(only_left, "the check's query"))
    if only_right:
        parts.append(_count(only_right, "equals_query"))
    detail = "; ".join(parts)
    if 2 * len(pairs) + len(left_alone) + len(right_alone) < only_left + only_right:
        detail += f" (the first {len(differences)} differences shown)"
    return CheckOutcome(False, rows, expected, detail, differences)


def _describe(connection: Any, query: str, variables: Mapping[str, Any]) -> Columns:
    """The columns `query` returns, asked of the server without fetching a row."""
    result = execute(connection, f"select * from (\n{query}\n) as q limit 0", variables)
    description = result.cursor.description or ()
    return Columns(tuple(d.name for d in description), tuple(d.type_code for d in description))


def _native_types(connection: Any, oids: set[int]) -> dict[int, bool]:
    result = execute(connection, _NATIVE, {"oids": sorted(oids)})
    return {int(oid): bool(ok) for oid, ok in result.all()}


def _comparison(left: str, right: str, as_is: Sequence[bool]) -> str:
    """One statement: both counts, the counts of each side's rows the other lacks, how
    many first columns pair them, and the first few of those rows as JSON arrays of their
    values: paired (a row of each side with the same key: what changed), then each
    side's rows that pair with none.

    The key is the fewest first columns (not all of them, at most KEY_COLUMNS) whose
    values occur at most once among the check's query's rows the other lacks and at most
    once among equals_query's: a pairing that could be wrong (a key found twice on a
    side) is not made, the rows are shown each on its own. A NULL in a key pairs with
    nothing."""
    names = [f"c{i + 1}" for i in range(len(as_is))]
    aliases = f"({', '.join(names)})" if names else ""
    compared = ", ".join(
        f"{n} as {n}" if native else f"to_jsonb({n}) as {n}"
        for n, native in zip(names, as_is, strict=True)
    )
    prefixes = [names[:p] for p in range(1, min(len(names), KEY_COLUMNS + 1))]
    unique = "\n  union all ".join(
        f"select {p} as p where not exists (select from lo group by {', '.join(cols)}"
        f" having count(*) > 1)\n    and not exists (select from ro group by {', '.join(cols)}"
        " having count(*) > 1)"
        for p, cols in enumerate(prefixes, 1)
    )
    keys = (
        f"k as (select coalesce(min(p), 0) as p from (\n  {unique}) s)"
        if prefixes
        else ("k as (select 0 as p)")
    )

    def same(cols: Sequence[str]) -> str:
        return " and ".join(f"a.{c} = b.{c}" for c in cols)

    match = (
        " or ".join(
            f"((select p from k) = {p} and {same(cols)})" for p, cols in enumerate(prefixes, 1)
        )
        or "false"
    )

    def values(side: str) -> str:
        return f"jsonb_build_array({', '.join(f'{side}.{n}' for n in names)})"

    # The values as JSON, read as text: numbers keep every digit (parsed as Decimal).
    sample = (
        f"{keys}\n"
        "select (select count(*) from l), (select count(*) from r),\n"
        "  (select count(*) from lo), (select count(*) from ro), (select p from k),\n"
        "  (select cast(jsonb_agg(jsonb_build_array(x, y)) as text) from (\n"
        f"    select {values('a')} as x, {values('b')} as y from lo a join ro b\n"
        f"    on {match} limit {SHOWN}) s),\n"
        f"  (select cast(jsonb_agg(x) as text) from (select {values('a')} as x from lo a\n"
        f"    where not exists (select from ro b where {match}) limit {SHOWN}) s),\n"
        f"  (select cast(jsonb_agg(x) as text) from (select {values('b')} as x from ro b\n"
        f"    where not exists (select from lo a where {match}) limit {SHOWN}) s)"
    )
    return (
        f"with l as materialized (select {compared} from (\n{left}\n) as q{aliases}),\n"
        f"r as materialized (select {compared} from (\n{right}\n) as q{aliases}),\n"
        "lo as materialized (select * from l except all select * from r),\n"
        "ro as materialized (select * from r except all select * from l),\n" + sample
    )


def _json(text: str | None) -> list[Any]:
    return json.loads(text, parse_float=Decimal) if text else []


def _labels(left: Sequence[str], right: Sequence[str]) -> list[str]:
    """A name for each column: the check's query's, else equals_query's, else its place
    (a name PostgreSQL made up, `?column?`, or one given twice is no name)."""

    def usable(names: Sequence[str], name: str) -> bool:
        return name != "?column?" and names.count(name) == 1

    return [
        a if usable(left, a) else b if usable(right, b) else f"column {i + 1}"
        for i, (a, b) in enumerate(zip(left, right, strict=True))
    ]


class _Keep:
    """A value as a difference keeps it: a text (or the JSON text of a list or mapping)
    longer than KEPT characters cut to KEPT, saying how much was cut."""

    def __init__(self, shorten: Callable[..., str] | None) -> None:
        self.shorten = shorten

    def __call__(self, values: Sequence[Any]) -> list[Any]:
        return [self.one(v) for v in values]

    def one(self, value: Any) -> Any:
        text = value if isinstance(value, str) else None
        if isinstance(value, list | dict):
            text = json.dumps(value, default=str, ensure_ascii=False)
        if text is None or len(text) <= KEPT:
            return value
        marker = f"… (cut from {len(text):,} characters)"
        if self.shorten is not None:
            return self.shorten(text, KEPT, marker=marker)
        return text[: KEPT - len(marker)] + marker


def _named(labels: Sequence[str], values: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"name": n, "value": v} for n, v in zip(labels, values, strict=True)]


def _paired(
    labels: Sequence[str], width: int, left: Sequence[Any], right: Sequence[Any]
) -> dict[str, Any]:
    """A row of each side with the same key: the key, and each column that differs with
    the check's value and equals_query's, in the query's order."""
    columns = [
        {"name": n, "actual": a, "expected": b}
        for n, a, b in zip(labels, left, right, strict=True)
        if a != b
    ]
    return {"key": _named(labels[:width], left[:width]), "columns": columns}


def _alone(side: str, labels: Sequence[str], width: int, values: Sequence[Any]) -> dict[str, Any]:
    """A row of one side that pairs with none of the other side's differing rows: its
    key (the columns that pair rows, else the first) and the rest of it."""
    return {
        "only_in": side,
        "key": _named(labels[:width], values[:width]),
        "row": _named(labels[width:], values[width:]),
    }


def _count(count: int, side: str) -> str:
    return f"{count} {'row' if count == 1 else 'rows'} only in {side}"
