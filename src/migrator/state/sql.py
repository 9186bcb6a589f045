"""SQLAlchemy's `text`, imported when first needed.

The state package is imported by plugins when they load, and a plan is validated
without loading any database library (tests/unit/test_startup.py): no module of
`migrator.state` imports SQLAlchemy at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import TextClause


def text(sql: str) -> TextClause:
    from sqlalchemy import text as sqlalchemy_text

    return sqlalchemy_text(sql)
