"""The PostgreSQL server of a data folder, as its `postmaster.pid` and the process table
tell: which process it is, its DSN, and how it is stopped (`db/embedded.py` starts it).

A `postmaster.pid` left by a server killed without its clean-up may name a pid that is
now another program, or another server's postgres (its postmaster or one of its session
processes). Only a postgres postmaster whose data folder is this one counts: its working
directory (a postmaster runs in its data folder) or its `-D` argument must be this
folder. A process that cannot be told apart (another user's, whose working directory
cannot be read) is never signalled, nor its `postmaster.pid` removed.
"""

from __future__ import annotations

import itertools
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from migrator.errors import UsageError


@dataclass(frozen=True)
class Postmaster:
    """The server a data folder's `postmaster.pid` names, alive."""

    pid: int
    dsn: str | None
    """Its superuser's DSN (a Unix socket, trust: no password)."""
    proven: bool
    """True: this folder's postmaster. False: a postgres that could not be told apart
    (another user's): never signalled, its `postmaster.pid` kept."""


def dsn(socket_dir: str, port: str = "") -> str:
    """The superuser's DSN on the Unix socket in `socket_dir` (percent-encoded: a folder
    named `p%41q` is not `pAq`)."""
    host = quote(socket_dir, safe="/")
    return f"postgresql://postgres@/postgres?host={host}" + (
        f"&port={quote(port, safe='')}" if port and port != "5432" else ""
    )


def find(pgdata: Path) -> Postmaster | None:
    """The server running on `pgdata`; None when none runs (no `postmaster.pid`, or the
    process it names is gone or is not this folder's postmaster)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    verdict = _ours(pid, pgdata)
    if verdict is False:
        return None
    socket_dir = lines[4].strip() if len(lines) > 4 else ""
    port = lines[3].strip() if len(lines) > 3 else ""
    return Postmaster(pid, dsn(socket_dir, port) if socket_dir else None, verdict is True)


def _ours(pid: int, pgdata: Path) -> bool | None:
    """Whether `pid` is the postmaster of `pgdata`: True, False, or None when it cannot
    be told (a postgres of another user)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or process.name() != "postgres":
            return False
        parent = process.parent()
        if parent is not None and parent.name() == "postgres":
            return False  # a session (or auxiliary) process of some server, not a postmaster
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return None
    here = pgdata.resolve()
    try:
        return Path(process.cwd()).resolve() == here
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        pass
    try:
        arguments = process.cmdline()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return None
    for flag, value in itertools.pairwise(arguments):
        if flag == "-D" and Path(value).is_absolute():
            return Path(value).resolve() == here
    return None


def stop(pgdata: Path, wait: float, shown: str) -> Postmaster | None:
    """Stop the server running on `pgdata` (any version): a fast shutdown, waited for;
    killed if it has not stopped in `wait` seconds. The server stopped, None if none ran.
    Refuses (exit 2) a postgres it cannot prove is this folder's."""
    import psutil

    found = find(pgdata)
    if found is None:
        return None
    if not found.proven:
        raise UsageError(
            f"cannot stop the PostgreSQL server (pid {found.pid}) named by {shown}/"
            "postmaster.pid: it belongs to another user of this machine, and migrator "
            "cannot tell that it is this folder's server"
        )
    try:
        process = psutil.Process(found.pid)
        process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        process.wait(wait)
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        raise UsageError(
            f"cannot stop the PostgreSQL server (pid {found.pid}) in {shown}: it "
            "belongs to another user of this machine"
        ) from None
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(wait)
    return found
