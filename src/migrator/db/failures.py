"""Reading database errors: a one-line message, and whether retrying can help."""

from __future__ import annotations

_SERVER_GONE = {"57P01", "57P02", "57P03"}  # admin shutdown, crash shutdown, cannot connect now


def error_text(exc: BaseException) -> str:
    """One line for a person: the driver's first line and the server's DETAIL when it
    names a key (`Key (email)=(a@b.c) is duplicated.`), or the error's own words.

    A key's DETAIL quotes its values whole: like the rest of the line, it is masked for
    secrets wherever it is shown or recorded, and never cut here (a cut could halve a
    secret). Other DETAILs are left out: "Failing row contains (...)" quotes a whole row
    of the application's data with each value cut by the server at 64 bytes, where no
    mask could find a secret's first half.
    """
    if getattr(exc, "blockers", None):  # a lock wait that knows who blocked it
        return str(exc)
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = str(orig).strip().splitlines()
        line = first[0] if first else type(orig).__name__
        detail = _detail(orig)
        return f"{line}: {detail}" if detail and detail not in line else line
    return f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)


def _detail(orig: BaseException) -> str:
    """The server's DETAIL of a driver error, on one line ("" when there is none)."""
    detail = getattr(getattr(orig, "diag", None), "message_detail", None)
    if not isinstance(detail, str) or not detail.startswith("Key ("):
        return ""
    return " ".join(detail.split())


def is_disconnect(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


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


def is_permission_denied(exc: BaseException) -> bool:
    """Whether the server refused the role a privilege (SQLSTATE 42501): the operator's
    setup to fix, not a bug."""
    orig = getattr(exc, "orig", None) or exc
    return getattr(orig, "sqlstate", None) == "42501"


def is_lock_timeout(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03"
