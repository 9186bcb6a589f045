"""The backfill coordinator's connection goes back to the pool as it was found: the
session-level lock_timeout it waits under does not reach the next borrower."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.pool import QueuePool

from migrator_backfill.link import Link


def test_the_link_waits_under_the_lock_timeout_and_hands_its_connection_back_clean(
    database: str,
) -> None:
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(database),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
    )
    try:
        link = Link(engine, 0.25)
        seen = link.call(lambda conn: conn.exec_driver_sql("show lock_timeout").scalar(), "it")
        pid = link.pid
        link.close()
        assert seen == "250ms"
        with engine.connect() as conn:  # the one pooled connection: the Link's
            row: Any = conn.exec_driver_sql(
                "select pg_backend_pid(), current_setting('lock_timeout')"
            ).one()
        assert tuple(row) == (pid, "0")
    finally:
        engine.dispose()
