"""What `migrator validate` reads of the `policy` and `rls` steps: the SQL they generate,
for the core's rules (RLS DDL takes ACCESS EXCLUSIVE on its table) and squawk."""

from __future__ import annotations

from typing import Any

from migrator.plugin import SqlText

from .policy import create_policy_sql, describe_rls


def policy_sql_texts(step: Any) -> list[SqlText]:
    """The CREATE POLICY the step runs (as a dry run shows it: an unqualified table in
    public), in the step's transaction; findings point at the step's `policy` key."""
    p = step.policy
    schema, _, table = p.table.rpartition(".")
    text = create_policy_sql(schema or "public", table, p)
    return [SqlText((), text, in_transaction=True, generated=True)]


def rls_sql_texts(step: Any) -> list[SqlText]:
    """The ALTER TABLE ... ROW LEVEL SECURITY statements the step runs, in its
    transaction."""
    return [SqlText((), describe_rls(step) + ";", in_transaction=True, generated=True)]
