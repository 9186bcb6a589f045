"""Which statements cannot run in a transaction block, read from their words: a concurrent
index build (`ban-concurrent-index-creation-in-transaction`) and the others PostgreSQL
refuses there (`cannot-run-in-transaction`), for `migrator.lint.steps`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrator.db.checksql import Word

_NO_BLOCK = {
    ("vacuum",): "VACUUM",
    ("create", "database"): "CREATE DATABASE",
    ("drop", "database"): "DROP DATABASE",
    ("create", "tablespace"): "CREATE TABLESPACE",
    ("drop", "tablespace"): "DROP TABLESPACE",
    ("alter", "system"): "ALTER SYSTEM",
    ("discard", "all"): "DISCARD ALL",
    ("reindex", "database"): "REINDEX DATABASE",
    ("reindex", "system"): "REINDEX SYSTEM",
    ("create", "subscription"): "CREATE SUBSCRIPTION",
}
"""Statements PostgreSQL refuses in a transaction block ("... cannot run inside a
transaction block"), by their first words (a REINDEX's options left out); the rest need
more than their head: `_no_block`."""


def no_block(statement: Sequence[Word]) -> str:
    """What PostgreSQL names the statement in its refusal if it cannot run in a transaction
    block, else ''."""
    top = _top_words(statement)
    for head, name in _NO_BLOCK.items():
        if tuple(top[: len(head)]) == head:
            if head == ("create", "subscription") and "create_slot" in _all_words(statement):
                return ""  # with (create_slot = false) it can
            return name
    if top[:1] == ["cluster"] and all(v in ("cluster", "verbose") for v in top):
        return "CLUSTER"  # without a table: every clustered table of the database
    if top[:2] == ["alter", "table"] and "detach" in top and "concurrently" in top:
        return "ALTER TABLE ... DETACH CONCURRENTLY"
    if top[:2] == ["alter", "database"] and _follows(top, "set", "tablespace"):
        return "ALTER DATABASE SET TABLESPACE"
    return ""


def _top_words(statement: Sequence[Word]) -> list[str]:
    """The bare words of a statement outside parentheses (a REINDEX's or VACUUM's options,
    a column list left out), lower case as the lexer gives them."""
    depth, out = 0, []
    for w in statement:
        if w.kind == "punct" and w.value in "()":
            depth += 1 if w.value == "(" else -1
        elif depth == 0 and w.kind == "word":
            out.append(w.value)
    return out


def _all_words(statement: Sequence[Word]) -> set[str]:
    return {w.value for w in statement if w.kind == "word"}


def _follows(values: list[str], *sequence: str) -> bool:
    n = len(sequence)
    return any(tuple(values[i : i + n]) == sequence for i in range(len(values) - n + 1))


def concurrent_head(statement: Sequence[Word]) -> str:
    """`CREATE INDEX CONCURRENTLY` (REINDEX, DROP INDEX) if the statement is one, else ''."""
    values: list[str] = []
    depth = 0
    for w in statement:
        if len(values) >= 6:
            break
        if w.kind == "punct" and w.value in "()":
            depth += 1 if w.value == "(" else -1
            if depth < 0 or (depth == 1 and values[:1] != ["reindex"]):
                break  # a column list: the head is over (REINDEX's options come first)
        elif depth == 0 or (depth == 1 and values[:1] == ["reindex"]):  # REINDEX (CONCURRENTLY)
            values.append(w.value if w.kind == "word" else "")
    if values[:1] not in (["create"], ["reindex"], ["drop"]) or "concurrently" not in values:
        return ""
    head = [v for v in values[: values.index("concurrently") + 1] if v]
    if head[0] == "reindex" or "index" in head:
        return " ".join(head).upper()
    return ""
