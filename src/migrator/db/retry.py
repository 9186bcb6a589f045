"""Retrying work that failed for a reason that passes: one loop for the engine and the plugins.

A failure is *transient* when doing the work again can help: the connection was lost
(the server restarted, or ended the session), a lock was not granted in time, a
deadlock or a serialization failure chose this transaction. A `Transient` function
names the reason (`"lost connection"`, `"lock timeout"`, `"deadlock"`,
`"serialization failure"`) or returns None; `any_of` combines them.

`retry(work, ...)` calls `work(attempt)` (1, 2, ...) until it returns, and re-raises
the failure it cannot retry: one that `retries(reason)` allows no more attempts for,
or one during whose pause `wait` gave up. Between attempts it calls `on_retry` (to
reconnect, to record the retry) and pauses by `backoff`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from migrator.db.failures import is_connection_lost, is_lock_timeout

T = TypeVar("T")

Transient = Callable[[BaseException], str | None]
"""Why doing the work again can help after this failure, or None when it cannot."""

LOST_CONNECTION = "lost connection"
LOCK_TIMEOUT = "lock timeout"
_CONFLICTS = {"40P01": "deadlock", "40001": "serialization failure"}


def lost_connection(exc: BaseException) -> str | None:
    """The database went away (see `is_connection_lost`)."""
    return LOST_CONNECTION if is_connection_lost(exc) else None


def lock_timeout(exc: BaseException) -> str | None:
    """A lock was not granted within `lock_timeout` (SQLSTATE 55P03)."""
    return LOCK_TIMEOUT if is_lock_timeout(exc) else None


def conflict(exc: BaseException) -> str | None:
    """The server chose this transaction to break a deadlock or a serialization conflict."""
    return _CONFLICTS.get(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def any_of(*kinds: Transient) -> Transient:
    """The first reason any of `kinds` gives."""

    def reason(exc: BaseException) -> str | None:
        for kind in kinds:
            found = kind(exc)
            if found is not None:
                return found
        return None

    return reason


@dataclass(frozen=True)
class Backoff:
    """Pauses that double from `first` up to `ceiling` seconds."""

    first: float
    ceiling: float

    def pause(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1 for the first)."""
        return min(self.first * 2.0 ** min(attempt - 1, 64), self.ceiling)


NO_PAUSE = Backoff(0.0, 0.0)
LOCK_BACKOFF = Backoff(0.5, 10.0)
"""The pauses between attempts at a lock not granted in time (a step, a batch, an undo):
long enough for the application's queued writes to drain and a short blocker to end."""


def lock_pause(waited: float, attempt: int) -> float:
    """The pause after failed attempt number `attempt` (1 for the first) at a lock not
    granted in `waited` seconds (the lock_timeout): LOCK_BACKOFF's pause, but at least
    as long as the wait, doubling (`waited * 2 ** (attempt - 1)`), capped at
    max(LOCK_BACKOFF.ceiling, waited). The application's writes, queued behind each
    wait, so run at least as long between two waits as they queued in one.
    With lock_timeout 200ms: 0.5, 1, 2, 4 s; with 1s: 1, 2, 4, 8 s; with 30s: 30, 30 s."""
    doubled = waited * 2.0 ** min(attempt - 1, 64)
    return min(max(LOCK_BACKOFF.pause(attempt), doubled), max(LOCK_BACKOFF.ceiling, waited))


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def retry(
    work: Callable[[int], T],
    *,
    transient: Transient,
    retries: float | Callable[[str | None], float],
    backoff: Backoff = NO_PAUSE,
    on_failure: Callable[[BaseException, str | None], None] | None = None,
    on_retry: Callable[[int, BaseException, str | None, float], None] | None = None,
    on_give_up: Callable[[int, BaseException], None] | None = None,
    wait: Callable[[float], bool] = _sleep,
) -> T:
    """`work(attempt)`'s result, doing it again after a failure that can pass.

    `retries`: how many attempts may follow the first, for failures `transient` finds a
    reason for (a number), or given the reason, None included (a function: a step's own
    `retries` also redoes failures that are not transient). After each failure,
    `on_failure(error, reason)` (whether or not it is retried); before each retry
    `on_retry(attempt, error, reason, pause)`, then `wait(pause)`: False gives up.
    When it gives up, `on_give_up(attempt, error)` (which may raise an error of its own)
    before the failure is raised again.
    """
    allowed = retries if callable(retries) else (lambda reason: retries if reason else 0)
    attempt = 0
    while True:
        attempt += 1
        try:
            return work(attempt)
        except Exception as exc:
            reason = transient(exc)
            if on_failure is not None:
                on_failure(exc, reason)
            if attempt <= allowed(reason):
                pause = backoff.pause(attempt)
                if on_retry is not None:
                    on_retry(attempt, exc, reason, pause)
                if not pause or wait(pause):
                    continue
            if on_give_up is not None:
                on_give_up(attempt, exc)
            raise
