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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from migrator import CheckOutcome
from migrator.plugin import execute, statements

SHOWN = 3  # differences fetched and shown from each side
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
    connection: Any, check_sql: str, other_sql: str, variables: Mapping[str, Any]
) -> CheckOutcome:
    """The outcome of `expect: {equals_query: other_sql}` on the check's `check_sql`."""
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
    pairs, left_alone, right_alone = (_json(v) for v in row[4:])
    differences = tuple(
        [_paired(labels, a, b) for a, b in pairs]
        + [_alone("query", labels, r) for r in left_alone]
        + [_alone("equals_query", labels, r) for r in right_alone]
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
    """One statement: both counts, the counts of each side's rows the other lacks, and
    the first few of those as JSON arrays of their values: paired by the first column
    (a row of each side with the same key: what changed), then each side's rows whose
    key the other side's differing rows lack."""
    names = [f"c{i + 1}" for i in range(len(as_is))]
    aliases = f"({', '.join(names)})" if names else ""
    compared = ", ".join(
        f"{n} as {n}" if native else f"to_jsonb({n}) as {n}"
        for n, native in zip(names, as_is, strict=True)
    )
    values = f"jsonb_build_array({', '.join(names)})"
    key = "c1" if names else "null::int"
    # The values as JSON, read as text: numbers keep every digit (parsed as Decimal).
    sample = (
        f"ls as (select {key} as k, {values} as j from lo),\n"
        f"rs as (select {key} as k, {values} as j from ro)\n"
        "select (select count(*) from l), (select count(*) from r),\n"
        "  (select count(*) from lo), (select count(*) from ro),\n"
        "  (select cast(jsonb_agg(jsonb_build_array(a, b)) as text) from (\n"
        f"    select ls.j as a, rs.j as b from ls join rs on ls.k = rs.k limit {SHOWN}) s),\n"
        "  (select cast(jsonb_agg(j) as text) from (select j from ls\n"
        f"    where not exists (select from rs where rs.k = ls.k) limit {SHOWN}) s),\n"
        "  (select cast(jsonb_agg(j) as text) from (select j from rs\n"
        f"    where not exists (select from ls where ls.k = rs.k) limit {SHOWN}) s)"
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


def _paired(labels: Sequence[str], left: Sequence[Any], right: Sequence[Any]) -> dict[str, Any]:
    """A row of each side with the same key: the key, and each column that differs as
    [the check's value, equals_query's]."""
    columns = {n: [a, b] for n, a, b in zip(labels, left, right, strict=True) if a != b}
    return {"key": {labels[0]: left[0]}, "columns": columns}


def _alone(side: str, labels: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """A row of one side whose key the other side's differing rows lack: its key (the
    first column) and the rest of it."""
    row = dict(zip(labels, values, strict=True))
    key = {labels[0]: row.pop(labels[0])} if labels else {}
    return {"only_in": side, "key": key, "row": row}


def _count(count: int, side: str) -> str:
    return f"{count} {'row' if count == 1 else 'rows'} only in {side}"
