"""What `migrator validate` reads of a backfill step: its batch statement, what it warns
about in it, and (with `validate --dsn`) whether the target has the unique index its key
needs."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from pydantic import ValidationInfo

from migrator.plugin import LintFinding, LintRule, SqlText, sql_words, statements

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


_ONE = {
    "statement": ("one SQL statement", "each batch runs exactly one"),
    "where": ("one condition", "the walk puts it into its own queries"),
    "throttle_query": ("one SQL query", "its one value says whether to wait"),
}


def one_statement(value: str | None, info: ValidationInfo) -> str | None:
    """`statement`, `where` and `throttle_query` are each one piece of SQL: the walk runs
    the statement once per batch, puts the `where` into its own queries, and reads one
    value of the throttle query (a second statement would fail at apply, not here)."""
    if value is None:
        return value
    found = statements(value)
    if len(found) != 1:
        what, why = _ONE.get(str(info.field_name), _ONE["statement"])
        raise ValueError(f"must be {what}, with no ';' between statements: it holds "
                         f"{len(found)} ({why})")  # fmt: skip
    return value


def sql_texts(step: Any) -> list[SqlText]:
    """The SQL a backfill sends, for lint: the batch statement, run once per batch, each
    in its own transaction, with `:lo` and `:hi` bound by the walk; the `where` (a
    condition the walk puts into its own queries) and the `throttle_query`, bound with
    the plan's variables only."""
    b = step.backfill
    texts = [SqlText(STATEMENT, b.statement, binds=frozenset({"lo", "hi"}), batched=True)]
    for name in ("where", "throttle_query"):
        value = getattr(b, name)
        if value:
            texts.append(
                SqlText(("backfill", name), value, batched=True, expression=name == "where")
            )
    return texts


def lint(step: Any) -> list[LintFinding]:
    """A statement not bounded by the batch, and an insert that is not idempotent."""
    said = sql_words(step.backfill.statement)
    if not said:
        return []
    found = []
    for statement in said:  # one (`one_statement`); each judged on its own
        used = {w.value[1:] for w in statement if w.kind == "other" and w.value[:1] == ":"}
        missing = [f":{name}" for name in ("lo", "hi") if name not in used]
        if missing:
            found.append(
                LintFinding(
                    WITHOUT_BOUNDS.id,
                    f"the statement does not use {' or '.join(missing)}: each batch, the first "
                    "one included, runs it over every row it matches, not over the batch's keys",
                    STATEMENT,
                    statement[0].at,
                )
            )
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
