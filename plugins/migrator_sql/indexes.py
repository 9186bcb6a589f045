"""Concurrent index builds in a `sql` step: what an interrupted one left is dropped, what
one built is checked valid.

`CREATE INDEX CONCURRENTLY` and `REINDEX ... CONCURRENTLY` commit as they go: one that
fails or is killed half-way leaves an INVALID index behind (`pg_index.indisvalid` false),
which the application's queries never use but its writes keep up to date. Run again, the
build then fails ("relation already exists") or, under `IF NOT EXISTS`, does nothing and
the step is recorded done over an invalid index. So, for each such statement of a step
that runs in autocommit:

- before it runs, an invalid index of that name on that table (for a REINDEX: the
  `<name>_ccnew`, `<name>_ccold`... invalid indexes it leaves on the table) is dropped
  with `DROP INDEX CONCURRENTLY`, and the operator is told: a retry or a resume builds it
  again;
- after it ran, the index is checked valid and ready; one that is not fails the step,
  naming the index and its table, and is dropped so the next attempt starts clean;
- when the statement fails (a duplicated key, a lock not granted, a cancel), the invalid
  index it left is dropped at once, when the connection still allows it.

An unnamed `CREATE INDEX CONCURRENTLY ON t (...)` is checked by the table's indexes
before and after it; a leftover of one killed half-way cannot be found by name on
resume, so `validate` warns about it (`sql.UNNAMED_RULE`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from migrator import StepError
from migrator.plugin import REPEATABLE

LEFTOVER = re.compile(r"_cc(new|old)[0-9]*$")
"""The names REINDEX CONCURRENTLY gives its new and old copies of an index."""


@dataclass(frozen=True)
class Build:
    """One concurrent index build, read from a statement's words."""

    kind: str  # "create" or "reindex"
    target: tuple[str, ...]  # create: the table; reindex: the index or table (qualified)
    name: str | None = None  # create: the index's name (None: unnamed)
    reindex_table: bool = False  # REINDEX TABLE (else REINDEX INDEX)


def read(words: Sequence[Any]) -> Build | None:
    """The build a statement's words (`migrator.plugin.sql_words`) make, or None."""
    values = [(w.kind, w.value) for w in words]

    def word(i: int) -> str:
        return values[i][1] if i < len(values) and values[i][0] == "word" else ""

    if word(0) == "create":
        i = 2 if word(1) == "unique" else 1
        if word(i) != "index" or word(i + 1) != "concurrently":
            return None
        i += 2
        if word(i) == "if" and word(i + 1) == "not" and word(i + 2) == "exists":
            i += 3
        name = None
        if word(i) != "on":
            name = _identifier(values, i)
            i += 1
        if name is None and word(i) != "on":
            return None
        i += 2 if word(i + 1) == "only" else 1
        table = _qualified(values, i)
        return Build("create", table, name) if table else None
    if word(0) == "reindex":
        i = 1
        if i < len(values) and values[i] == ("punct", "("):
            while i < len(values) and values[i] != ("punct", ")"):
                i += 1
            i += 1
        what = word(i)
        if what not in ("index", "table") or word(i + 1) != "concurrently":
            return None
        target = _qualified(values, i + 2)
        return Build("reindex", target, reindex_table=what == "table") if target else None
    return None


def _identifier(values: Sequence[tuple[str, str]], i: int) -> str | None:
    if i < len(values) and values[i][0] in ("word", "ident"):
        return values[i][1]
    return None


def _qualified(values: Sequence[tuple[str, str]], i: int) -> tuple[str, ...]:
    """A name, schema-qualified or not, from word `i` on (empty: no name there)."""
    parts: list[str] = []
    while (part := _identifier(values, i)) is not None:
        parts.append(part)
        if i + 1 < len(values) and values[i + 1] == ("punct", "."):
            i += 2
            continue
        break
    return tuple(parts) if parts and len(parts) <= 3 else ()


def quoted(*parts: str) -> str:
    """An identifier quoted as PostgreSQL reads it, qualified when given several parts."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


_INDEXES = """
select c.oid, n.nspname, c.relname, t.relname, i.indisvalid and i.indisready
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_class t on t.oid = i.indrelid
where i.indrelid = :table
"""


@dataclass(frozen=True)
class Index:
    oid: int
    schema: str
    name: str
    table: str
    valid: bool

    @property
    def shown(self) -> str:
        return f"index {quoted(self.schema, self.name)} on table {quoted(self.schema, self.table)}"


def _copy_of(base: str, target: str) -> bool:
    """Whether a REINDEX copy whose name without its suffix is `base` is a copy of index
    `target` (its name whole, or cut short to make room for `_ccnew`, `_ccold1`...)."""
    return base == target or (len(base) >= 50 and target.startswith(base))


class Guard:
    """Around one build: `before` drops what an interrupted one left, `after` checks what
    this one built, `failed` drops what this one left when it failed."""

    def __init__(self, connection: Any, build: Build, say: Callable[[str], None]) -> None:
        self.connection = connection
        self.build = build
        self.say = say
        self.table: int | None = None
        self.existing: set[int] = set()

    def _regclass(self, parts: tuple[str, ...]) -> int | None:
        row = self.connection.execute(
            text("select to_regclass(:name)::oid").execution_options(**REPEATABLE),
            {"name": quoted(*parts)},
        ).first()
        return int(row[0]) if row and row[0] is not None else None

    def _table(self) -> int | None:
        """The table the build is on (None: there is none yet; PostgreSQL will say so)."""
        oid = self._regclass(self.build.target)
        if oid is None or self.build.kind == "create" or self.build.reindex_table:
            return oid
        row = self.connection.execute(
            text("select indrelid from pg_index where indexrelid = :oid").execution_options(
                **REPEATABLE
            ),
            {"oid": oid},
        ).first()
        return int(row[0]) if row else None

    def indexes(self) -> list[Index]:
        if self.table is None:
            return []
        rows = self.connection.execute(
            text(_INDEXES).execution_options(**REPEATABLE), {"table": self.table}
        ).all()
        return [Index(int(r[0]), r[1], r[2], r[3], bool(r[4])) for r in rows]

    def ours(self, indexes: list[Index]) -> list[Index]:
        """The indexes of the table this build makes (or an interrupted one made)."""
        if self.build.kind == "reindex":
            leftovers = [i for i in indexes if LEFTOVER.search(i.name)]
            if self.build.reindex_table:
                return leftovers
            # REINDEX INDEX: the copies of that index only, whose names PostgreSQL makes
            # from its name (cut short to fit 63 bytes with the suffix)
            target = self.build.target[-1]
            return [i for i in leftovers if _copy_of(LEFTOVER.sub("", i.name), target)]
        if self.build.name is None:
            return [i for i in indexes if i.oid not in self.existing]
        return [i for i in indexes if i.name == self.build.name]

    def drop(self, index: Index) -> None:
        self.connection.exec_driver_sql(  # its own leftover: dropped again, nothing happens
            f"drop index concurrently if exists {quoted(index.schema, index.name)}",
            execution_options=REPEATABLE,
        )

    def before(self) -> None:
        self.table = self._table()
        indexes = self.indexes()
        self.existing = {i.oid for i in indexes}
        for index in self.ours(indexes):
            if not index.valid:
                self.say(
                    f"dropping invalid {index.shown}, left by a concurrent build that did not "
                    "finish, so that it is built again"
                )
                self.drop(index)
                self.existing.discard(index.oid)

    def failed(self) -> None:
        """The statement failed: drop the invalid index it left, if the connection allows."""
        with suppress(Exception):
            if self.table is None:
                self.table = self._table()
            for index in self.ours(self.indexes()):
                if not index.valid:
                    self.drop(index)
                    self.say(f"dropped invalid {index.shown}, left by the failed build")

    def after(self) -> None:
        if self.table is None:
            self.table = self._table()
        indexes = self.indexes()
        invalid = [i for i in self.ours(indexes) if not i.valid]
        if self.build.kind == "reindex":
            rebuilt = [i for i in indexes if not LEFTOVER.search(i.name)]
            if not self.build.reindex_table:
                rebuilt = [i for i in rebuilt if i.name == self.build.target[-1]]
            invalid += [i for i in rebuilt if not i.valid]
        elif self.build.name is not None and not self.ours(indexes):
            raise StepError(
                f"no index {quoted(self.build.name)} on table {quoted(*self.build.target)} "
                "after its build: that name belongs to another relation of the schema",
                memo={"index": self.build.name, "table": ".".join(self.build.target)},
            )
        if not invalid:
            return
        dropped = [i for i in invalid if self.build.kind == "create" or LEFTOVER.search(i.name)]
        for index in dropped:  # what this build made; a REINDEX's target stays
            self.drop(index)
        shown = "; ".join(i.shown for i in invalid)
        then = (
            "the invalid copy was dropped so that the next attempt builds it again"
            if dropped
            else "REINDEX TABLE CONCURRENTLY skips an invalid index: rebuild it with "
            "REINDEX INDEX CONCURRENTLY, or drop it"
        )
        raise StepError(
            f"{shown} is not valid after its concurrent build (pg_index.indisvalid false); {then}",
            memo={"invalid": [{"index": i.name, "table": i.table} for i in invalid]},
        )


def unnamed_build(words: Sequence[Any]) -> bool:
    """Whether a statement's words are an unnamed `CREATE INDEX CONCURRENTLY`."""
    build = read(words)
    return build is not None and build.kind == "create" and build.name is None
