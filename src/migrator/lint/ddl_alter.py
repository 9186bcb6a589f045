"""The DDL rules on an ALTER TABLE's actions: a constraint added valid, a type change, a
column that rewrites the table, SET NOT NULL, ADD UNIQUE or PRIMARY KEY, a column dropped or
renamed (their rules are in `migrator.lint.ddl`'s catalogue)."""

from __future__ import annotations

from collections.abc import Iterator

from migrator.db.checksql import Word
from migrator.lint.findings import LintFinding, SqlText
from migrator.lint.sqlwords import Made, Statement, follows, has_words, is_word, name_at, skip

VOLATILE = frozenset(
    {
        "random",
        "random_normal",
        "gen_random_uuid",
        "uuidv4",
        "uuidv7",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "nextval",
        "clock_timestamp",
        "timeofday",
    }
)
"""Volatile functions a default may call: PostgreSQL then computes it for every row (a
rewrite). A constant or stable default (`now()`) is stored once since PostgreSQL 11."""
SERIAL = frozenset({"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"})
_CONSTRAINTS = ("constraint", "unique", "primary", "check", "foreign", "exclude")


def at(
    text: SqlText, word: Word, rule: str, message: str, trace: tuple[str, str] | None
) -> LintFinding:
    """A finding at `word` of `text` (at the text as a whole when the action generated it)."""
    offset = None if text.generated else word.at
    return LintFinding(rule, message, text.path, offset, "", trace)


def check_clause(text: SqlText, table: str, clause: Statement, made: Made) -> Iterator[LintFinding]:
    """The findings of one action of `ALTER TABLE table`."""
    if is_word(clause, 0, "add"):
        if is_word(clause, 1, *_CONSTRAINTS):
            yield from _constraint(text, table, clause, made)
        else:
            yield from _column(text, table, clause, made)
    elif is_word(clause, 0, "alter"):
        yield from _alter_column(text, table, clause, made)
    elif is_word(clause, 0, "drop") and not is_word(clause, 1, "constraint"):
        i = skip(clause, 1, ("column",), ("if", "exists"))
        column, _ = name_at(clause, i)
        if column and not made.column(table, column):
            yield at(
                text,
                clause[0],
                "ban-drop-column",
                f"DROP COLUMN {column} breaks the clients of {table} still using it",
                None,  # its danger (clients, a scan) is no lock or rewrite a trace sees
            )
    elif is_word(clause, 0, "rename") and not is_word(clause, 1, "constraint"):
        if is_word(clause, 1, "to"):
            yield at(
                text,
                clause[0],
                "renaming-table",
                f"RENAME TO breaks the clients using {table} by its old name",
                None,  # a trace sees the lock under the new name
            )
        else:
            column, _ = name_at(clause, skip(clause, 1, ("column",)))
            if column and not made.column(table, column):
                yield at(
                    text,
                    clause[0],
                    "renaming-column",
                    f"RENAME COLUMN breaks the clients using {table}.{column} by its old name",
                    None,  # its danger (clients, a scan) is no lock or rewrite a trace sees
                )


def _constraint(text: SqlText, table: str, clause: Statement, made: Made) -> Iterator[LintFinding]:
    if made.table(table):
        return
    i = 1
    if is_word(clause, 1, "constraint"):
        _name, i = name_at(clause, 2)
    kind = clause[i].value if is_word(clause, i, *_CONSTRAINTS) else ""
    if kind in ("check", "foreign") and not has_words(clause, "not", "valid"):
        foreign = kind == "foreign"
        yield at(
            text,
            clause[0],
            "constraint-missing-not-valid",
            f"ADD {'FOREIGN KEY' if foreign else 'CHECK'} without NOT VALID scans all of "
            f"{table} while holding "
            f"{'SHARE ROW EXCLUSIVE' if foreign else 'ACCESS EXCLUSIVE'} on it",
            None,  # its danger (clients, a scan) is no lock or rewrite a trace sees
        )
    elif kind == "exclude":
        yield at(
            text,
            clause[i],
            "adding-exclusion-constraint",
            f"ADD EXCLUDE builds its index on {table} and checks every row under ACCESS "
            "EXCLUSIVE: reads and writes wait until it ends",
            (table, "AccessExclusiveLock"),
        )
    elif kind in ("unique", "primary") and not has_words(clause, "using", "index"):
        yield _keyed(text, table, clause[1], primary=kind == "primary")


def _keyed(text: SqlText, table: str, word: Word, primary: bool | None = None) -> LintFinding:
    """ADD UNIQUE or PRIMARY KEY (a constraint, or a new column's) without USING INDEX."""
    if primary is None:
        primary = word.value == "primary"
    return at(
        text,
        word,
        "adding-serial-primary-key-field" if primary else "disallowed-unique-constraint",
        f"ADD {'PRIMARY KEY' if primary else 'UNIQUE'} builds its index on {table} under "
        "ACCESS EXCLUSIVE: reads and writes wait until it ends",
        (table, "AccessExclusiveLock"),
    )


def _column(text: SqlText, table: str, clause: Statement, made: Made) -> Iterator[LintFinding]:
    if made.table(table):
        return
    i = skip(clause, 1, ("column",), ("if", "not", "exists"))
    column, i = name_at(clause, i)
    why = ""
    where: Word | None = None
    if is_word(clause, i, *SERIAL):
        why, where = f"a {clause[i].value} column fills every row", clause[i]
    last = {v: j for j, w in enumerate(clause) if w.kind == "word" for v in (w.value,)}
    for j in range(i, len(clause)):
        if where is not None:
            break
        if is_word(clause, j, "generated"):  # IDENTITY or STORED after it (read once: `last`)
            if last.get("identity", -1) > j:
                why, where = "an identity column numbers every row", clause[j]
            elif last.get("stored", -1) > j:
                why, where = "a stored generated column computes every row", clause[j]
        elif is_word(clause, j, "default"):
            called = _volatile_call(clause, j + 1)
            if called:
                why, where = f"its default calls {called}(), volatile, for every row", clause[j + 1]
    if where is not None:
        yield at(
            text,
            where,
            "adding-field-with-default",
            f"ADD COLUMN {column} rewrites {table} under ACCESS EXCLUSIVE: {why}",
            (table, "rewrite"),
        )
    top = _top_level(clause[i:])
    inline = next((w for w in top if w.kind == "word" and w.value in ("primary", "unique")), None)
    if inline is not None:
        yield _keyed(text, table, inline)
    if has_words(top, "not", "null") and not has_words(top, "default") and where is None:
        yield at(
            text,
            clause[0],
            "adding-required-field",
            f"ADD COLUMN {column} NOT NULL without a DEFAULT fails as soon as {table} has a row",
            None,
        )


def _top_level(clause: Statement) -> list[Word]:
    """The words of `clause` outside parentheses (a column's own NOT NULL, not a CHECK's)."""
    depth, out = 0, []
    for word in clause:
        if word.kind == "punct" and word.value in "()":
            depth += 1 if word.value == "(" else -1
        elif depth == 0:
            out.append(word)
    return out


def _volatile_call(clause: Statement, start: int) -> str:
    """The volatile function the default expression starting at `start` calls, or ''."""
    depth = 0
    for j in range(start, len(clause)):
        word = clause[j]
        if word.kind == "punct" and word.value in "()":
            depth += 1 if word.value == "(" else -1
            continue
        if depth == 0 and word.kind == "word" and word.value in _ENDS_DEFAULT:
            return ""
        nxt = clause[j + 1] if j + 1 < len(clause) else None
        if word.kind == "word" and word.value in VOLATILE and nxt == Word("punct", "("):
            return word.value
    return ""


_ENDS_DEFAULT = frozenset(
    {"not", "null", "constraint", "check", "unique", "primary", "references", "generated",
     "default"}
)  # fmt: skip


def _alter_column(
    text: SqlText, table: str, clause: Statement, made: Made
) -> Iterator[LintFinding]:
    i = skip(clause, 1, ("column",))
    column, i = name_at(clause, i)
    if made.table(table):
        return
    if is_word(clause, i, "type") or follows(clause, i, "set", "data", "type"):
        yield at(
            text,
            clause[i],
            "changing-column-type",
            f"changing the type of {table}.{column} rewrites the table and its indexes under "
            "ACCESS EXCLUSIVE",
            (table, "rewrite"),
        )
    elif follows(clause, i, "set", "not", "null") and not made.validated(table, column):
        yield at(
            text,
            clause[i],
            "adding-not-nullable-field",
            f"SET NOT NULL on {table}.{column} scans the whole table under ACCESS EXCLUSIVE",
            None,  # its danger (clients, a scan) is no lock or rewrite a trace sees
        )
