"""Reading a statement's words for the DDL rules: qualified names, the clauses of an ALTER
TABLE, and the tables and columns a plan's earlier steps created."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from migrator.db.checksql import Word, words
from migrator.lint.findings import SqlText

Statement = Sequence[Word]


class Linted(Protocol):
    """What the DDL rules read of a step (the runner's `LintedStep`, named here by shape:
    the runner imports the rule modules, so they may not import it)."""

    @property
    def step(self) -> Any: ...
    @property
    def transition(self) -> Any: ...
    @property
    def registry(self) -> Any: ...
    @property
    def texts(self) -> tuple[SqlText, ...]: ...


_DDL = re.compile(r"\b(?:alter|create|drop|reindex|vacuum|cluster|lock)\b", re.I)


def ddl_statements(text: str) -> tuple[tuple[Word, ...], ...]:
    """The statements of `text` as words, or none when no word of it can start DDL (most
    plan SQL: read without the lexer, so lint stays fast on a plan of thousands of steps)."""
    return _statements(text) if _DDL.search(text) else ()


@lru_cache(maxsize=1024)
def _statements(text: str) -> tuple[tuple[Word, ...], ...]:
    return tuple(tuple(statement) for statement in words(text))


def is_word(statement: Statement, i: int, *values: str) -> bool:
    """Whether the word at `i` is a bare word among `values`."""
    return 0 <= i < len(statement) and statement[i].kind == "word" and statement[i].value in values


def follows(statement: Statement, i: int, *values: str) -> bool:
    """Whether the bare words `values` follow one another from `i` on."""
    return all(is_word(statement, i + k, v) for k, v in enumerate(values))


def has_words(statement: Statement, *values: str) -> bool:
    """Whether `values` follow one another somewhere in `statement`, as bare words."""
    return any(follows(statement, i, *values) for i in range(len(statement)))


def name_at(statement: Statement, i: int) -> tuple[str, int]:
    """The (qualified) name starting at `i` as PostgreSQL reads it (`public.events`, a part
    quoted only where it must be: `"Events"`), and the index after it; ("", i) if none."""
    parts: list[str] = []
    while i < len(statement) and statement[i].kind in ("word", "ident"):
        word = statement[i]
        plain = word.kind == "word" or (word.value.isidentifier() and word.value.islower())
        parts.append(word.value if plain else '"' + word.value.replace('"', '""') + '"')
        if i + 1 < len(statement) and statement[i + 1] == Word("punct", "."):
            i += 2
        else:
            i += 1
            break
    return ".".join(parts), i


def skip(statement: Statement, i: int, *optional: tuple[str, ...]) -> int:
    """The index after the optional word sequences (`("if", "exists")`, `("only",)`) at `i`."""
    for sequence in optional:
        if follows(statement, i, *sequence):
            i += len(sequence)
    return i


def clauses(statement: Statement, start: int) -> Iterator[list[Word]]:
    """The comma-separated clauses from `start` on (an ALTER TABLE's actions), commas inside
    parentheses left alone."""
    depth, clause = 0, list[Word]()
    for word in statement[start:]:
        if word.kind == "punct" and word.value in "()":
            depth += 1 if word.value == "(" else -1
        if depth == 0 and word == Word("punct", ","):
            if clause:
                yield clause
            clause = []
        else:
            clause.append(word)
    if clause:
        yield clause


def same_relation(a: str, b: str) -> bool:
    """Whether two names as written are the same relation, loosely: an unqualified name is
    taken as `public`'s."""
    return key(a) == key(b)


def key(name: str) -> str:
    """A name to compare: `public.` dropped, case kept only where it was quoted."""
    return (name if '"' in name else name.lower()).removeprefix("public.")


def altered_table(statement: Statement) -> tuple[str, int] | None:
    """`ALTER TABLE [IF EXISTS] [ONLY] name [*]`: the table and where its actions start."""
    if not (is_word(statement, 0, "alter") and is_word(statement, 1, "table")):
        return None
    i = skip(statement, 2, ("if", "exists"), ("only",))
    table, i = name_at(statement, i)
    if i < len(statement) and statement[i] == Word("punct", "*"):
        i += 1
    return (table, i) if table else None


@dataclass
class Made:
    """What statements created: tables (keys) and columns (`table.column` keys); and the
    columns a validated CHECK (column IS NOT NULL) covers (a SET NOT NULL after it needs
    no scan): such a CHECK added valid (`checked`), or added NOT VALID (`not_null`, by
    `table.constraint`) and then validated (`validated_names`)."""

    tables: set[str] = field(default_factory=set)
    columns: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)
    not_null: dict[str, str] = field(default_factory=dict)
    validated_names: set[str] = field(default_factory=set)
    indexes: dict[str, str] = field(default_factory=dict)
    """Index (key) -> its table (key), for the indexes created."""

    def new_index(self, name: str) -> bool:
        """Whether index `name` was created on a table that is new."""
        table = self.indexes.get(key(name).rpartition(".")[2])
        return table is not None and table in self.tables

    def validated(self, name: str, column: str) -> bool:
        """Whether a validated CHECK says `column` of table `name` IS NOT NULL."""
        col = f"{key(name)}.{key(column)}"
        return col in self.checked or any(
            f"{key(name)}.{c}" == col for n, c in self.not_null.items()
            if n in self.validated_names and n.startswith(f"{key(name)}.")
        )  # fmt: skip

    def table(self, name: str) -> bool:
        return key(name) in self.tables

    def column(self, table: str, column: str) -> bool:
        return f"{key(table)}.{column.lower()}" in self.columns or self.table(table)

    def read(self, statement: Statement) -> None:
        """Adds what `statement` creates (CREATE TABLE, ALTER TABLE ... ADD COLUMN, a CHECK
        of IS NOT NULL) or validates. CREATE TABLE IF NOT EXISTS makes nothing sure: the
        table may be there already, with its rows and clients."""
        if is_word(statement, 0, "create"):
            i = skip(statement, 1, ("or", "replace"), ("global",), ("local",))
            i = skip(statement, i, ("temporary",), ("temp",), ("unlogged",))
            if is_word(statement, i, "table") and not follows(statement, i + 1, "if", "not"):
                name, _ = name_at(statement, i + 1)
                if name:
                    self.tables.add(key(name))
            elif is_word(statement, i, "unique", "index"):
                self._index(statement, skip(statement, i, ("unique",)))
            return
        altered = altered_table(statement)
        if altered is None:
            return
        table, start = altered
        for clause in clauses(statement, start):
            if is_word(clause, 0, "validate") and is_word(clause, 1, "constraint"):
                name, _ = name_at(clause, 2)
                self.validated_names.add(f"{key(table)}.{key(name)}")
            elif is_word(clause, 0, "add") and is_word(clause, 1, "constraint", "check"):
                self._check(table, clause)
            elif is_word(clause, 0, "add") and not is_word(
                clause, 1, "unique", "primary", "foreign", "exclude"
            ):
                i = skip(clause, 1, ("column",), ("if", "not", "exists"))
                column, _ = name_at(clause, i)
                if column:
                    self.columns.add(f"{key(table)}.{column.lower()}")

    def _index(self, statement: Statement, i: int) -> None:
        """`CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON [ONLY] table`."""
        i = skip(statement, i + 1, ("concurrently",), ("if", "not", "exists"))
        name, i = name_at(statement, i)
        if name and is_word(statement, i, "on"):
            table, _ = name_at(statement, skip(statement, i + 1, ("only",)))
            if table:
                self.indexes[key(name).rpartition(".")[2]] = key(table)

    def _check(self, table: str, clause: Statement) -> None:
        """`ADD [CONSTRAINT name] CHECK (column IS NOT NULL) [NOT VALID]`."""
        name, i = name_at(clause, 2) if is_word(clause, 1, "constraint") else ("", 1)
        if not (is_word(clause, i, "check") and i + 1 < len(clause)):
            return
        if clause[i + 1] != Word("punct", "("):
            return
        column, j = name_at(clause, i + 2)
        if not column or not follows(clause, j, "is", "not", "null"):
            return
        if not has_words(clause, "not", "valid"):
            self.checked.add(f"{key(table)}.{key(column)}")
        elif name:
            self.not_null[f"{key(table)}.{key(name)}"] = key(column)

    def update(self, other: Made) -> None:
        self.tables |= other.tables
        self.columns |= other.columns
        self.checked |= other.checked
        self.not_null.update(other.not_null)
        self.validated_names |= other.validated_names
        self.indexes.update(other.indexes)


@dataclass(frozen=True)
class Earlier:
    """For one transition: what the steps before each step made (for an undo step, the
    steps up to and including the one it undoes, and the undos before it), and for each
    undo step what the step it undoes made (an undo that drops what its step created
    breaks no client)."""

    before: dict[int, Made]
    undone: dict[int, Made]


_last: tuple[Any, Earlier] | None = None


def earlier(step: Linted) -> Earlier:
    """What the transition of `step` made before it (built once per transition: the steps
    of one transition are linted one after the other)."""
    global _last
    if _last is not None and _last[0] is step.transition:
        return _last[1]
    registry = step.registry
    before: dict[int, Made] = {}
    undone: dict[int, Made] = {}
    so_far = Made()
    for forward in step.transition.steps:
        before[id(forward)] = _copy(so_far)
        made = _made(forward, registry)
        undos = forward.rollback if isinstance(forward.rollback, list) else []
        undo_so_far = _copy(so_far)  # an undo runs after its step: what it made is there
        undo_so_far.update(made)
        for undo in undos:
            before[id(undo)] = _copy(undo_so_far)
            undone[id(undo)] = made
            undo_so_far.update(_made(undo, registry))
        so_far.update(made)
    _last = (step.transition, Earlier(before, undone))
    return _last[1]


def _copy(made: Made) -> Made:
    copy = Made()
    copy.update(made)
    return copy


def _made(step: Any, registry: Any) -> Made:
    made = Made()
    spec = registry.actions.get(step.action_key) if registry is not None else None
    if spec is None or spec.sql_texts is None:
        return made
    for text in spec.sql_texts(step):
        for statement in ddl_statements(text.text):
            made.read(statement)
    return made


def new_at(step: Linted) -> Made:
    """What is new at `step`: made by the transition's steps before it, or by the step it
    undoes (and the steps before that)."""
    known = earlier(step)
    made = Made()
    for source in (known.before.get(id(step.step)), known.undone.get(id(step.step))):
        if source is not None:
            made.update(source)
    return made
