"""A database that went away during a run: knowing it, and waiting for it to come back.

A connection is lost when the server closes it (`pg_terminate_backend`, a restart, a
crash, a failover) or cannot be opened while the server shuts down or starts. A run
then connects again, patiently: for up to `MIGRATOR_RECONNECT_TIMEOUT` seconds
(default 30), enough for a restart or a failover; after that the run stops with exit
5 and stays interrupted, for `migrator resume` or `migrator rollback`.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from migrator.db.failures import is_disconnect

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

DEFAULT_WINDOW = 30.0
_SERVER_GONE = {"57P01", "57P02", "57P03"}  # admin shutdown, crash shutdown, cannot connect now


def reconnect_window() -> float:
    """Seconds to wait for a lost database: $MIGRATOR_RECONNECT_TIMEOUT, else 30."""
    try:
        return max(0.0, float(os.environ.get("MIGRATOR_RECONNECT_TIMEOUT", DEFAULT_WINDOW)))
    except ValueError:
        return DEFAULT_WINDOW


def is_connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the database went away (not that a statement failed)."""
    import psycopg

    if is_disconnect(exc):
        return True
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, psycopg.OperationalError):
        return False
    sqlstate = getattr(orig, "sqlstate", None)
    # no SQLSTATE: the client's own failure to talk to the server (refused, closed)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GONE


def connect_again(engine: Engine, window: float | None = None) -> Connection:
    """A new connection, waiting up to `window` seconds for the server to come back.

    Raises the last error when the server is still gone after the window.
    """
    deadline = time.monotonic() + (reconnect_window() if window is None else window)
    pause = 0.25
    while True:
        try:
            return engine.connect()
        except Exception as exc:
            if not is_connection_lost(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
