"""A real PgBouncer in front of the test server, in transaction or session mode.

`PgBouncer(server_dsn, mode)` starts Debian's `pgbouncer` as a process of the test on
127.0.0.1 and a free port, reaching the test server on its unix socket for any database
name (`* = host=SOCKETDIR`), trusting every client, and `dsn(database_dsn)` is the DSN
of the same database through it (the password of the test's DSN kept, so the secrets
sweep watches it). PgBouncer refuses to run as root: as root it is started with `-u`,
the owner of the server's socket directory (the user the test server runs as, of whichever
major MIGRATOR_TEST_PG chose), after reading its configuration as root. `close()` stops it.

It is waited for by reading its log for "listening on", then a first connection, never
by sleeping. `.ci/run` installs it when it is missing; elsewhere the tests that need it
are skipped, and fail under CI.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

import pytest

PoolMode = Literal["transaction", "session"]
START_WAIT = 30.0  # seconds PgBouncer may take to listen, at most


def pgbouncer_path() -> str | None:
    """Where `pgbouncer` is: on the PATH, else Debian's /usr/sbin."""
    found = shutil.which("pgbouncer")
    if found is None and os.access("/usr/sbin/pgbouncer", os.X_OK):
        found = "/usr/sbin/pgbouncer"
    return found


def require_pgbouncer() -> str:
    """The path of `pgbouncer`; skip the test without it (fail it under CI)."""
    path = pgbouncer_path()
    if path is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _conninfo(dsn: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}


class PgBouncer:
    """PgBouncer in front of the server of `server_dsn`, in `mode`."""

    def __init__(self, server_dsn: str, mode: PoolMode, round_robin: bool = False) -> None:
        self.mode = mode
        server = _conninfo(server_dsn)
        self.user = server.get("user", "postgres")
        socket_dir = server["host"]  # the test server listens on its unix socket only
        self.dir = Path(tempfile.mkdtemp(prefix=f"migrator-pgbouncer-{mode}-"))
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        self.port = _free_port()
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={socket_dir} port={server.get('port', '5432')}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.dir / 'users.txt'}\n"
            f"pool_mode = {mode}\n"
            "default_pool_size = 30\n"
            "max_client_conn = 200\n"
            "ignore_startup_parameters = extra_float_digits\n"
            # LIFO (the default) hands out the server session used last; round robin the
            # one idle longest
            f"server_round_robin = {int(round_robin)}\n"
            "pidfile =\n"
            "logfile =\n"
        )
        argv = [require_pgbouncer()]
        if os.geteuid() == 0:
            argv += ["-u", pwd.getpwuid(os.stat(socket_dir).st_uid).pw_name]
        argv.append(str(self.dir / "pgbouncer.ini"))
        self.log = self.dir / "pgbouncer.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            self._wait_listening()
        except BaseException:
            self.close()
            raise

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_WAIT
        while "listening on 127.0.0.1" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not listen within {START_WAIT:g}s")
            time.sleep(0.02)

    def dsn(self, database_dsn: str) -> str:
        """The DSN of the database of `database_dsn` through this pooler."""
        target = _conninfo(database_dsn)
        password = target.get("password", "")
        auth = f"{self.user}:{password}" if password else self.user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{target['dbname']}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Poolers:
    """PgBouncers of a test session, started on first use, one per configuration."""

    def __init__(self, server_dsn: str) -> None:
        self.server_dsn = server_dsn
        self.started: dict[tuple[PoolMode, bool], PgBouncer] = {}

    def __call__(self, mode: PoolMode, round_robin: bool = False) -> PgBouncer:
        if (mode, round_robin) not in self.started:
            self.started[mode, round_robin] = PgBouncer(self.server_dsn, mode, round_robin)
        return self.started[mode, round_robin]

    def close(self) -> None:
        for pooler in self.started.values():
            pooler.close()
