"""The `sql` action and `query` check."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome, StepContext
from migrator.plugin import (
    EqualsQuery,
    LintFinding,
    LintRule,
    SqlText,
    execute,
    fetch_rows,
    judge,
    sql_words,
    statements,
)


class SqlOptions(BaseModel):
    """Keys allowed beside `sql:` in a step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    autocommit: bool = Field(
        False, description="run outside a transaction (CREATE INDEX CONCURRENTLY)"
    )


def describe(step: Any) -> str:
    return str(step.sql).strip()


def describe_query(check: Any) -> str:
    text = str(check.query).strip()
    if isinstance(check.expect, EqualsQuery):
        return f"{text}\n-- returns the same rows as:\n{check.expect.sql.strip()}"
    return text


UNNAMED_RULE = LintRule(
    "unnamed-concurrent-index",
    "an unnamed CREATE INDEX CONCURRENTLY, which a resume cannot find by name",
    "name the index: CREATE INDEX CONCURRENTLY name ON ...",
)


def lint(step: Any) -> list[LintFinding]:
    """What only this action knows of its SQL: an unnamed concurrent index build (the
    core's rules see the rest: session SET, CONCURRENTLY in a transaction, ...)."""
    if not step.autocommit:
        return []
    from . import indexes

    found = []
    for words in sql_words(str(step.sql)):
        if indexes.unnamed_build(words):
            found.append(
                LintFinding(
                    UNNAMED_RULE.id,
                    "an unnamed CREATE INDEX CONCURRENTLY: if it is killed half-way, the "
                    "invalid index it leaves cannot be found by name on resume and a second "
                    "one is built beside it",
                    ("sql",),
                    words[0].at,
                )
            )
    return found


def sql_texts(step: Any) -> list[SqlText]:
    """The step's SQL, for lint: in a transaction unless `autocommit: true`."""
    return [SqlText(("sql",), str(step.sql), in_transaction=in_transaction(step))]


def in_transaction(step: Any) -> bool:
    return not step.autocommit


def run(ctx: StepContext, step: Any) -> Any:
    if step.autocommit:
        result = _run_autocommit(ctx, step)
    else:
        result = execute(ctx.connection, step.sql, ctx.variables)
    rowcount = getattr(result, "rowcount", -1)
    return {"rowcount": rowcount} if rowcount is not None and rowcount >= 0 else None


def _run_autocommit(ctx: StepContext, step: Any) -> Any:
    """Each statement on its own; a concurrent index build among them guarded: what an
    interrupted one left dropped before, what it built checked valid after (indexes.py)."""
    from . import indexes

    result = None
    for statement in statements(step.sql):
        found = sql_words(statement.text)
        build = indexes.read(found[0]) if found else None
        if build is None:
            result = execute(ctx.connection, statement.text, ctx.variables)
            continue
        guard = indexes.Guard(ctx.connection, build, ctx.say)
        guard.before()
        try:
            result = execute(ctx.connection, statement.text, ctx.variables)
        except Exception:
            guard.failed()
            raise
        guard.after()
    return result


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    if isinstance(check.expect, EqualsQuery):
        from . import same_rows

        return same_rows.compare(
            ctx.connection, check.query, check.expect.sql, ctx.variables, ctx.shorten
        )
    rows = fetch_rows(ctx.connection, check.query, ctx.variables)
    if not rows:
        return judge(check.expect, None, no_row=True)
    return judge(check.expect, rows[0][0] if rows[0] else None)
