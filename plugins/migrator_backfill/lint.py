"""What `migrator validate` reads of a backfill step: its batch statement, what it warns
about in it, and (with `validate --dsn`) whether the target has the unique index its key
needs."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from migrator.plugin import LintFinding, LintRule, SqlText, sql_words

STATEMENT = ("backfill", "statement")

WITHOUT_BOUNDS = LintRule(
    "backfill-statement-without-bounds",
    "a backfill statement that does not use both :lo and :hi",
    "bound the statement by the batch: `where <key> > :lo and <key> <= :hi`",
)
KEY_NOT_UNIQUE = LintRule(
    "backfill-key-not-unique",
    "a backfill key with no unique index or primary key on its table",
    "walk on the primary key, or on a column with a unique index built first "
    "(CREATE UNIQUE INDEX CONCURRENTLY in an `autocommit: true` step)",
)
INSERT_WITHOUT_ON_CONFLICT = LintRule(
    "backfill-insert-without-on-conflict",
    "a backfill statement that inserts without ON CONFLICT",
    "make the insert idempotent: `insert ... on conflict do nothing` (or `do update`)",
)
RULES = (WITHOUT_BOUNDS, KEY_NOT_UNIQUE, INSERT_WITHOUT_ON_CONFLICT)


def sql_texts(step: Any) -> list[SqlText]:
    """The batch statement, for lint: run once per batch, each in its own transaction,
    with `:lo` and `:hi` bound by the walk."""
    return [
        SqlText(
            STATEMENT,
            step.backfill.statement,
            binds=frozenset({"lo", "hi"}),
            batched=True,
        )
    ]


def lint(step: Any) -> list[LintFinding]:
    """A statement not bounded by the batch, and an insert that is not idempotent."""
    statements = sql_words(step.backfill.statement)
    if not statements:
        return []
    found = []
    used = {w.value[1:] for s in statements for w in s if w.kind == "other" and w.value[:1] == ":"}
    missing = [f":{name}" for name in ("lo", "hi") if name not in used]
    if missing:
        found.append(
            LintFinding(
                WITHOUT_BOUNDS.id,
                f"the statement does not use {' or '.join(missing)}: each batch, the first "
                "one included, runs it over every row it matches, not over the batch's keys",
                STATEMENT,
                statements[0][0].at,
            )
        )
    for statement in statements:
        names = [w.value for w in statement if w.kind == "word"]
        if "insert" in names and not _on_conflict(names):
            found.append(
                LintFinding(
                    INSERT_WITHOUT_ON_CONFLICT.id,
                    "the statement inserts without ON CONFLICT: a batch that is retried or "
                    "resumed could insert its rows twice",
                    STATEMENT,
                    next(w.at for w in statement if w.value == "insert"),
                )
            )
    return found


def _on_conflict(names: list[str]) -> bool:
    return any(a == "on" and b == "conflict" for a, b in pairwise(names))


def lint_database(connection: Any, step: Any) -> list[LintFinding]:
    """The key without a unique index (valid, not partial, on the key alone) or primary
    key on the driving table; nothing when the table or column is not there yet (a plan
    that creates them earlier)."""
    b = step.backfill
    row = connection.exec_driver_sql(
        "select c.oid is not null, a.attnum is not null, exists ("
        " select from pg_index i where i.indrelid = c.oid and i.indisunique"
        " and i.indisvalid and i.indpred is null and i.indexprs is null"
        " and i.indnkeyatts = 1 and i.indkey[0] = a.attnum) "
        "from (select to_regclass(%(t)s) as oid) c "
        "left join pg_attribute a on a.attrelid = c.oid and a.attname = %(k)s "
        "and not a.attisdropped",
        {"t": b.table, "k": b.key},
    ).one()
    table_there, column_there, unique = (bool(v) for v in row)
    if not table_there or not column_there or unique:
        return []
    return [
        LintFinding(
            KEY_NOT_UNIQUE.id,
            f"no unique index or primary key on {b.table} ({b.key}): each batch's bounds are "
            "found by scanning the table, and rows sharing a key value all fall in one batch",
            ("backfill", "key"),
        )
    ]
