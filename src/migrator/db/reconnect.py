"""A database that went away during a run: knowing it, and waiting for it to come back.

A connection is lost when the server closes it (`pg_terminate_backend`, a restart, a
crash, a failover) or cannot be opened while the server shuts down or starts. A run
then connects again, patiently: for up to `MIGRATOR_RECONNECT_TIMEOUT` seconds
(default 30), enough for a restart or a failover; after that the run stops with exit
5 and stays interrupted, for `migrator resume` or `migrator rollback`.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING

from migrator.db.failures import is_connection_lost
from migrator.db.retry import Backoff, lost_connection, retry

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["connect_again", "is_connection_lost", "reconnect_window"]

DEFAULT_WINDOW = 30.0
RECONNECT_BACKOFF = Backoff(0.25, 2.0)


def reconnect_window() -> float:
    """Seconds to wait for a lost database: $MIGRATOR_RECONNECT_TIMEOUT, else 30."""
    try:
        return max(0.0, float(os.environ.get("MIGRATOR_RECONNECT_TIMEOUT", DEFAULT_WINDOW)))
    except ValueError:
        return DEFAULT_WINDOW


def connect_again(engine: Engine, window: float | None = None) -> Connection:
    """A new connection, waiting up to `window` seconds for the server to come back.

    Raises the last error when the server is still gone after the window.
    """
    deadline = time.monotonic() + (reconnect_window() if window is None else window)

    def within_window(pause: float) -> bool:
        if time.monotonic() + pause > deadline:
            return False
        time.sleep(pause)
        return True

    return retry(
        lambda attempt: engine.connect(),
        transient=lost_connection,
        retries=math.inf,
        backoff=RECONNECT_BACKOFF,
        wait=within_window,
    )
