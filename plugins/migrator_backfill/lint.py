"""What `migrator validate` reads of a backfill step: its batch statement, and what it warns
about in it."""

from __future__ import annotations

import re
from typing import Any

from migrator.plugin import SqlText


def sql_texts(step: Any) -> list[SqlText]:
    """The batch statement, for lint: run once per batch, each in its own transaction,
    with `:lo` and `:hi` bound by the walk."""
    return [
        SqlText(
            ("backfill", "statement"),
            step.backfill.statement,
            binds=frozenset({"lo", "hi"}),
            batched=True,
        )
    ]


def lint(step: Any) -> list[str]:
    """An insert that is not idempotent runs twice on a retried batch: say so."""
    text = _strip_comments(step.backfill.statement).lower()
    if re.search(r"\binsert\b", text) and "on conflict" not in text:
        return [
            "the statement inserts without ON CONFLICT: a batch that is retried or resumed "
            "could insert its rows twice"
        ]
    return []


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)
