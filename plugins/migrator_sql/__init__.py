"""Built-in plugin: the `sql` action and the `query` check."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec, CheckSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import sql

    register(
        ActionSpec(
            key="sql",
            config=str,
            options=sql.SqlOptions,
            transactional=sql.in_transaction,
            run=sql.run,
            describe=sql.describe,
            lint=sql.lint,
            sql_texts=sql.sql_texts,
            rules=(sql.UNNAMED_RULE,),
            language="sql",
            summary="SQL to run; plan variables are bound as :name",
        )
    )


@migrator.hookimpl
def migrator_register_checks(register: Callable[[CheckSpec], None]) -> None:
    from . import sql

    register(
        CheckSpec(
            key="query",
            config=str,
            evaluate=sql.evaluate,
            describe=sql.describe_query,
            language="sql",
            sql_texts=lambda check: [(("query",), check.query)],
            summary="SQL whose first column of the first row is compared with expect",
        )
    )
