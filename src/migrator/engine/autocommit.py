"""A step's work outside a transaction: on a connection in autocommit of its own, whose
session waits at most the step's `lock_timeout` for a lock, watched while a statement
runs so that a lock not granted names its blockers.

Each statement there commits on its own. After a lock timeout, doing the work again
would run a second time what had committed before it; so the statements that may have
changed something are counted as they end, and a lock timeout after one of them, or
raised by a statement that commits inside itself (`CALL` of a procedure, `DO`), is
`PartlyDone`: not tried again. Statements that change nothing are not counted: `SET`,
`SHOW`, `RESET`, and those a plugin sends with the execution options `REPEATABLE` (its
own reads, the drop of a leftover it made).

The connection goes back to the pool as it came: a transaction the work left open is
rolled back, the session reset; a session that cannot be reset is closed, not pooled.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from migrator.db.checksql import words
from migrator.db.failures import error_text, is_lock_timeout
from migrator.db.lockwait import LockWatch, set_lock_timeout, watch_locks
from migrator.db.sessions import backend_pid, reset_session
from migrator.db.sqltext import REPEATABLE_OPTION

T = TypeVar("T")

_CHANGE_NOTHING = ("SET", "SHOW", "RESET")  # status words of statements that change no data
_COMMIT_INSIDE = {"call", "do"}  # statements that may commit part of their work themselves


class PartlyDone(Exception):
    """A lock not granted in time to a statement outside a transaction after others of
    the same step (or undo) had committed, or to one that may have committed part of its
    own work: not tried again, which would run that a second time."""

    def __init__(self, error: BaseException, committed: int, inside: str | None) -> None:
        self.error = error
        self.blockers = list(getattr(error, "blockers", []))
        if inside:
            why = f"{inside.upper()} may have committed part of its work before it waited"
        else:
            why = f"{committed} statement(s) before it had committed, and would run again"
        super().__init__(f"{error_text(error)} (not tried again: {why})")


class _Statements:
    """What the work sent on the connection: the statements that ended having maybe
    changed something, the one in flight; each one's run watched for lock waits."""

    def __init__(self, watch: LockWatch) -> None:
        self.watch = watch
        self.committed = 0
        self.in_flight: str | None = None

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.in_flight = statement
        self.watch.statement_started()

    def after(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, *a: Any
    ) -> None:
        self.in_flight = None
        self.watch.statement_ended()
        options = getattr(context, "execution_options", {}) or {}
        status = str(getattr(cursor, "statusmessage", "") or "")
        if options.get(REPEATABLE_OPTION) or status.startswith(_CHANGE_NOTHING):
            return
        self.committed += 1

    def commits_inside(self) -> str | None:
        """`call` or `do` when the statement in flight is one (it may have committed)."""
        if self.in_flight is None:
            return None
        found = words(self.in_flight)
        first = found[0][0] if found and found[0] else None
        if first is not None and first.kind == "word" and first.value in _COMMIT_INSIDE:
            return str(first.value)
        return None


def on_side(
    db: Any,
    secrets: Any,
    lock_timeout: float,
    timeout: float | None,
    work: Callable[[Connection], T],
) -> T:
    """`work` on a connection in autocommit whose session waits at most `lock_timeout`
    for a lock (and runs a statement at most `timeout`), watched while a statement runs:
    a lock not granted names its blockers; `PartlyDone` when trying again would repeat
    what committed."""
    with db.connect() as side:
        side = side.execution_options(isolation_level="AUTOCOMMIT")
        try:
            set_lock_timeout(side, lock_timeout, local=False)
            if timeout:
                side.execute(
                    text("select set_config('statement_timeout', :v, false)"),
                    {"v": f"{int(timeout * 1000)}ms"},
                )
            pid = backend_pid(side)
            sent: _Statements | None = None
            try:
                with watch_locks(db, pid, secrets, lock_timeout=lock_timeout, gated=True) as watch:
                    sent = _Statements(watch)
                    event.listen(side, "before_cursor_execute", sent.before)
                    event.listen(side, "after_cursor_execute", sent.after)
                    try:
                        return work(side)
                    finally:
                        with suppress(Exception):
                            event.remove(side, "before_cursor_execute", sent.before)
                        with suppress(Exception):
                            event.remove(side, "after_cursor_execute", sent.after)
            except Exception as exc:  # a lock wait's error names its blockers by now
                inside = sent.commits_inside() if sent is not None else None
                if sent is not None and is_lock_timeout(exc) and (sent.committed or inside):
                    raise PartlyDone(exc, sent.committed, inside) from exc
                raise
        finally:  # the connection goes back to the pool as it came, or not at all
            _settle(side)


def _settle(side: Connection) -> None:
    """End what the work left open on `side` (a `BEGIN` it sent), reset the session; a
    session that cannot be reset is closed instead of going back to the pool."""
    try:
        status = side.connection.driver_connection.info.transaction_status  # type: ignore[union-attr]
        if status != 0:  # psycopg's TransactionStatus.IDLE: a transaction is open, or failed
            side.exec_driver_sql("rollback")
        reset_session(side)
    except Exception:
        with suppress(Exception):
            side.invalidate()
