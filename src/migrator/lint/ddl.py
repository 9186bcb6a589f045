"""The DDL rules: statements that lock a busy table for long, rewrite it, or break the
clients running against it. Rule ids are squawk's where squawk has the rule, so one
`ignore` silences either. A table (or column) created earlier in the same transition, or
in the same text, is new: nothing waits on it, and no client uses it yet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from migrator.db.checksql import Word
from migrator.lint.ddl_alter import at, check_clause
from migrator.lint.findings import LintFinding, LintRule, SqlText
from migrator.lint.sqlwords import (
    Linted,
    Made,
    Statement,
    altered_table,
    clauses,
    ddl_statements,
    has_words,
    is_word,
    name_at,
    new_at,
    skip,
)

_CONCURRENT = "in a step with `autocommit: true`"
RULES: tuple[LintRule, ...] = (
    LintRule(
        "require-concurrent-index-creation",
        "CREATE INDEX without CONCURRENTLY blocks every write to the table while it builds",
        f"build it with CREATE INDEX CONCURRENTLY {_CONCURRENT}; on a partitioned table, "
        "CREATE INDEX ON ONLY the parent, then CONCURRENTLY on each partition, then ALTER "
        "INDEX ... ATTACH PARTITION each",
    ),
    LintRule(
        "require-concurrent-index-deletion",
        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table",
        f"drop it with DROP INDEX CONCURRENTLY {_CONCURRENT}; a partitioned index cannot be "
        "dropped CONCURRENTLY: `ignore` the rule with that reason",
    ),
    LintRule(
        "require-concurrent-reindex",
        "REINDEX without CONCURRENTLY blocks writes to the table, and reads through the index",
        f"rebuild it with REINDEX ... CONCURRENTLY {_CONCURRENT} (PostgreSQL 12 and later)",
    ),
    LintRule(
        "constraint-missing-not-valid",
        "a CHECK or FOREIGN KEY constraint added valid scans the whole table under lock",
        "add it NOT VALID, then VALIDATE CONSTRAINT in a later step (which lets writes go on)",
    ),
    LintRule(
        "changing-column-type",
        "a column type change rewrites the table and its indexes under ACCESS EXCLUSIVE",
        "add a column of the new type, backfill it, switch the clients over, drop the old one; "
        "`ignore` it with the reason if the change is binary-coercible (varchar(n) to text)",
    ),
    LintRule(
        "adding-field-with-default",
        "a column added with a volatile default, serial, identity or stored generated value "
        "rewrites the table under ACCESS EXCLUSIVE",
        "add the column without a default (or with a constant one), set the default after, "
        "and fill the rows with a backfill step",
    ),
    LintRule(
        "adding-required-field",
        "a column added NOT NULL without a DEFAULT fails on a table that has rows",
        "add it with a constant DEFAULT (stored without a rewrite since PostgreSQL 11), or "
        "nullable, backfill it, then SET NOT NULL",
    ),
    LintRule(
        "adding-not-nullable-field",
        "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE",
        "add CHECK (column IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later step, "
        "then SET NOT NULL (PostgreSQL 12 and later skip the scan)",
    ),
    LintRule(
        "disallowed-unique-constraint",
        "ADD UNIQUE builds its index under ACCESS EXCLUSIVE",
        "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX",
    ),
    LintRule(
        "adding-serial-primary-key-field",
        "ADD PRIMARY KEY builds its index under ACCESS EXCLUSIVE",
        "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... PRIMARY KEY USING INDEX",
    ),
    LintRule(
        "adding-exclusion-constraint",
        "ADD EXCLUDE builds its index and checks every row under ACCESS EXCLUSIVE",
        "add it with the table (or while the table is new in the transition); on a live table "
        "plan a quiet window with a short `lock_timeout`: an exclusion constraint cannot be "
        "built CONCURRENTLY, added NOT VALID or attached USING INDEX",
    ),
    LintRule(
        "ban-drop-column",
        "dropping a column breaks the clients still reading or writing it",
        "stop every client using the column first (a release before), then drop it in a "
        "contract step whose `ignore: {ban-drop-column: ...}` says which release stopped "
        "using it",
    ),
    LintRule(
        "ban-drop-table",
        "dropping a table breaks the clients still using it, and loses its rows",
        "stop every client using the table first, then drop it in a contract step whose "
        "`ignore: {ban-drop-table: ...}` says which release stopped using it",
    ),
    LintRule(
        "renaming-column",
        "renaming a column breaks the clients using its old name",
        "add the new column, write both, switch the readers, then drop the old one",
    ),
    LintRule(
        "renaming-table",
        "renaming a table breaks the clients using its old name",
        "create the new name as a view of the old table (or the other way round) while the "
        "clients move over",
    ),
    LintRule(
        "ban-vacuum-full",
        "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE: no read or write until it ends",
        "run plain VACUUM, or rebuild the table online with pg_repack outside the plan",
    ),
    LintRule(
        "ban-cluster",
        "CLUSTER rewrites the table under ACCESS EXCLUSIVE: no read or write until it ends",
        "rebuild the table online with pg_repack outside the plan",
    ),
    LintRule(
        "ban-lock-table",
        "LOCK TABLE holds its lock to the end of the step: what its mode conflicts with waits",
        "let each statement take the lock it needs, under the step's `lock_timeout`",
    ),
)

_LOCK_MODES = {
    "access share": "AccessShareLock",
    "row share": "RowShareLock",
    "row exclusive": "RowExclusiveLock",
    "share update exclusive": "ShareUpdateExclusiveLock",
    "share": "ShareLock",
    "share row exclusive": "ShareRowExclusiveLock",
    "exclusive": "ExclusiveLock",
    "access exclusive": "AccessExclusiveLock",
}


_BLOCKS = {
    "access share": "only ACCESS EXCLUSIVE locks (ALTER TABLE, DROP, TRUNCATE, VACUUM FULL)",
    "row share": "EXCLUSIVE and ACCESS EXCLUSIVE locks (ALTER TABLE, DROP, TRUNCATE)",
    "row exclusive": "index builds without CONCURRENTLY, LOCK ... SHARE and stronger, and DDL",
    "share update exclusive": "VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY and DDL",
    "share": "every write (INSERT, UPDATE, DELETE) and DDL",
    "share row exclusive": "every write (INSERT, UPDATE, DELETE) and DDL",
    "exclusive": "every write and SELECT ... FOR UPDATE/SHARE (plain reads go on)",
    "access exclusive": "every read and every write",
}
"""What each mode of LOCK TABLE makes wait (PostgreSQL's table of conflicting locks)."""


def check(step: Linted) -> Iterable[LintFinding]:
    made: Made | None = None
    own = Made()
    for text in step.texts:
        for statement in ddl_statements(text.text):
            head = statement[0]
            if head.kind != "word" or head.value not in _HEADS:
                continue
            if made is None:
                made = new_at(step)
            both = Made()
            both.update(made)
            both.update(own)
            yield from _HEADS[head.value](text, statement, both)
            own.read(statement)


def _create(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    i = skip(s, 1, ("unique",))
    if not is_word(s, i, "index") or is_word(s, i + 1, "concurrently"):
        return
    on = next((j for j in range(i, len(s)) if is_word(s, j, "on")), None)
    if on is None or is_word(s, on + 1, "only"):
        return  # ON ONLY a partitioned table: its index cannot be built concurrently
    table, _ = name_at(s, on + 1)
    if table and not made.table(table):
        yield at(
            text,
            s[0],
            "require-concurrent-index-creation",
            f"CREATE INDEX without CONCURRENTLY takes a SHARE lock on {table}: writes wait "
            "until the build ends",
            (table, "ShareLock"),
        )


def _drop(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    if is_word(s, 1, "index") and not is_word(s, 2, "concurrently"):
        index, _ = name_at(s, skip(s, 2, ("if", "exists")))
        if index and made.new_index(index):
            return  # on a table new in the transition: nothing waits on it
        yield at(
            text,
            s[0],
            "require-concurrent-index-deletion",
            f"DROP INDEX {index} without CONCURRENTLY takes ACCESS EXCLUSIVE on its table: "
            "reads and writes wait",
            None,  # the lock is on the index's table, which the statement does not name
        )
    elif is_word(s, 1, "table"):
        table, _ = name_at(s, skip(s, 2, ("if", "exists")))
        if table and not made.table(table):
            yield at(
                text,
                s[0],
                "ban-drop-table",
                f"DROP TABLE {table} breaks the clients still using it",
                None,
            )


def _reindex(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    if has_words(s, "concurrently"):
        return
    i = next((j for j in range(1, len(s)) if is_word(s, j, "index", "table")), None)
    name, _ = name_at(s, i + 1) if i is not None else ("", 0)
    if name and made.table(name):
        return
    yield at(
        text,
        s[0],
        "require-concurrent-reindex",
        f"REINDEX without CONCURRENTLY blocks writes to the table{f' of {name}' if name else ''} "
        "until it ends",
        (name, "AccessExclusiveLock" if is_word(s, i or 0, "index") else "ShareLock")
        if name
        else None,
    )


def _vacuum(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    if not has_words(s, "full"):
        return
    table = ""
    for j in range(len(s) - 1, 0, -1):
        if s[j].kind in ("word", "ident") and s[j].value not in ("full", "verbose", "analyze"):
            table = _name_ending(s, j)
            break
    yield _rewrites(text, s, "ban-vacuum-full", "VACUUM FULL", table or "every table")


def _cluster(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    i = 1
    if i < len(s) and s[i] == Word("punct", "("):
        while i < len(s) and s[i] != Word("punct", ")"):
            i += 1
        i += 1
    i = skip(s, i, ("verbose",))
    table, _ = name_at(s, i)
    yield _rewrites(text, s, "ban-cluster", "CLUSTER", table or "every clustered table")


def _rewrites(text: SqlText, s: Statement, rule: str, verb: str, table: str) -> LintFinding:
    """A statement that rewrites `table` under ACCESS EXCLUSIVE, the rewrite predicted for
    the trace when the statement names its table."""
    named = not table.startswith("every ")
    return at(
        text,
        s[0],
        rule,
        f"{verb} rewrites {table} under ACCESS EXCLUSIVE",
        (table, "rewrite") if named else None,
    )


def _lock(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    table, _ = name_at(s, skip(s, 1, ("table",), ("only",)))
    if not table or made.table(table):
        return
    mode = "access exclusive"
    j = next((j for j in range(len(s)) if is_word(s, j, "in")), None)  # IN mode MODE, once
    if j is not None:
        end = next((k for k in range(j, len(s)) if is_word(s, k, "mode")), len(s))
        mode = " ".join(w.value for w in s[j + 1 : end])
    if mode not in _LOCK_MODES:
        mode = "access exclusive"  # not a mode: PostgreSQL refuses it; the default shown
    yield at(
        text,
        s[0],
        "ban-lock-table",
        f"LOCK TABLE takes {mode.upper()} on {table} until the step ends: "
        f"{_BLOCKS[mode]} wait for it",
        (table, _LOCK_MODES[mode]),
    )


def _name_ending(s: Statement, j: int) -> str:
    start = j
    while start >= 2 and s[start - 1] == Word("punct", "."):
        start -= 2
    return name_at(s, start)[0]


def _alter(text: SqlText, s: Statement, made: Made) -> Iterator[LintFinding]:
    altered = altered_table(s)
    if altered is None:
        return
    table, start = altered
    for clause in clauses(s, start):
        yield from check_clause(text, table, clause, made)


_HEADS = {
    "create": _create,
    "drop": _drop,
    "reindex": _reindex,
    "vacuum": _vacuum,
    "cluster": _cluster,
    "lock": _lock,
    "alter": _alter,
}
