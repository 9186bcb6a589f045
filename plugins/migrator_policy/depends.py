"""What PostgreSQL's planner could run of the database's own code while `compare.py` has it
read two expressions, found from the catalogs before anything is planned.

Planning folds an IMMUTABLE function called with constants (it runs it), evaluates a STABLE
one to estimate a condition, and inlines a SQL function (its body becomes part of the
expression; a SQL function it cannot inline but may fold, it runs). Built-in functions
(oid below 16384, FirstNormalObjectId) and those in a language only a superuser may use
(`internal`, `c`, an untrusted PL: `pg_language.lanpltrusted` false) are no table owner's
code. The rest is:

- a function in a trusted procedural language (plpgsql, ...): `Reach.unsafe` names it, and
  the comparison is refused (nothing is planned) when the planner may run it: when it is
  not VOLATILE, or when it is reached through a SQL function's body (which the planner may
  run whole);
- a SQL function (`auth.uid()`): its body is read (`prosrc`, or `pg_get_functiondef` of a
  BEGIN ATOMIC one) for what it calls in turn, and `Reach.sql` says one was met: then both
  sides are planned as the table's owner;
- a view a text names: its query is read (`pg_get_viewdef`) the same way; and a table it
  names (or the compared one) that row level security applies to, for the role planning:
  its policies' expressions (they become quals of its scans).

Texts are read for names, not parsed: a name followed by `(` that some such function bears
in any schema, a word that some view bears, an operator whose function is such a function
appearing anywhere, a cast's function (casts may be implicit) always. Reading too much
only refuses more.

A guard for the ordinary case, not a boundary: what runs as the owner under a superuser
can set the superuser's role back, and the planner reaches code no name in a text shows
(an operator's selectivity estimate over a column's common values, a built-in function
reading a view, a domain's check on a composite literal). docs/concepts.md says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from migrator.plugin import sql_words

FIRST_NORMAL_OID = 16384
_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}

# Functions the table's owner may have written: not built in, in a trusted language.
_FUNCTIONS = """
select p.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(p.proname), p.proname,
       l.lanname, p.provolatile::text,
       case when l.lanname <> 'sql' then ''
            when p.prosqlbody is null then p.prosrc else pg_get_functiondef(p.oid) end
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
join pg_language l on l.oid = p.prolang
where p.oid >= 16384 and l.lanpltrusted and p.prokind in ('f', 'a', 'w')
  and (p.proname = any(cast(:names as text[])) or p.oid = any(cast(:oids as bigint[])))
"""
# Functions called by no name: an operator's (its name), a cast's (no name: always).
_OPERATORS = """
select o.oprname::text, o.oprcode::oid::bigint from pg_operator o
join pg_proc p on p.oid = o.oprcode join pg_language l on l.oid = p.prolang
where o.oid >= 16384 and p.oid >= 16384 and l.lanpltrusted
union all
select '', c.castfunc::bigint from pg_cast c
join pg_proc p on p.oid = c.castfunc join pg_language l on l.oid = p.prolang
where c.oid >= 16384 and p.oid >= 16384 and l.lanpltrusted
"""
# What a relation a text names adds to the plan: a view's query; a table's policies, when
# row level security applies to the role planning (they become quals of its scans).
_RELATIONS = """
select c.relname::text, pg_get_viewdef(c.oid) from pg_class c
where c.oid >= 16384 and c.relkind = 'v' and c.relname = any(cast(:names as text[]))
union all
select c.relname::text, concat_ws(' and ', pg_get_expr(p.polqual, p.polrelid),
                                  pg_get_expr(p.polwithcheck, p.polrelid))
from pg_class c join pg_policy p on p.polrelid = c.oid
where c.relkind in ('r', 'p') and row_security_active(c.oid)
  and (c.relname = any(cast(:names as text[]))
       or c.oid = cast(cast(:table as text) as regclass))
"""


# A name as written plain (folded to lower case) or quoted (`"Trojan"`, kept as written).
_NAMES = ("word", "ident")


@dataclass
class Reach:
    """What the planner could meet of the database's own code in some texts."""

    unsafe: list[str] = field(default_factory=list)
    sql: bool = False


def called(text: str) -> set[str]:
    """The names `text` calls: each word right before a `(`."""
    tokens = [t for statement in sql_words(text) for t in statement]
    return {
        word.value
        for word, after in pairwise(tokens)
        if word.kind in _NAMES and after.kind == "punct" and after.value == "("
    }


def _words(text: str) -> set[str]:
    return {t.value for statement in sql_words(text) for t in statement if t.kind in _NAMES}


def defined_functions(conn: Any, text: str) -> frozenset[str]:
    """The functions not built in, of any language, that `text` calls by name."""
    names = sorted(called(text))
    rows = conn.execute(
        query(
            "select distinct proname::text from pg_proc where oid >= 16384 "
            "and proname = any(cast(:names as text[]))"
        ),
        {"names": names},
    )
    return frozenset(str(row[0]) for row in rows)


def reach(conn: Any, table: str, texts: list[str]) -> Reach:
    """Follow `texts`, read over `table` (quoted, qualified), through the SQL functions,
    views and tables under row level security they name (read only)."""
    found = Reach()
    operators = [(str(n), int(f)) for n, f in conn.execute(query(_OPERATORS)).all()]
    seen: set[int] = set()
    seen_relations: set[str] = set()
    pending = [(text, False) for text in texts]
    compared: str | None = table  # its policies read once
    while pending:
        text, in_body = pending.pop()
        oids = [oid for name, oid in operators if name in text]
        rows = conn.execute(query(_FUNCTIONS), {"names": sorted(called(text)), "oids": oids}).all()
        for oid, shown, _name, language, volatility, body in rows:
            if int(oid) in seen:
                continue
            seen.add(int(oid))
            if language == "sql":
                found.sql = True
                pending.append((str(body), True))
            elif in_body or volatility != "v":
                found.unsafe.append(f"{shown}() ({language}, {_VOLATILITY.get(volatility, '?')})")
        names = sorted(_words(text) - seen_relations)
        relations = conn.execute(query(_RELATIONS), {"names": names, "table": compared}).all()
        compared = None
        for name, read in relations:
            seen_relations.add(str(name))
            pending.append((str(read), in_body))
    found.unsafe.sort()
    return found


def query(sql: str) -> Any:
    """A textual SQL statement (sqlalchemy is imported when a check runs)."""
    from sqlalchemy import text

    return text(sql)
