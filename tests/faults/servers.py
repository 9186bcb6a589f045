"""A PostgreSQL server of the fault tests' own, that they may crash and start again.

The session-wide test server is shared by every other test: never restarted. This
one lives in its own directory; `crash_and_restart` stops it with `pg_ctl -m
immediate` (every backend dies at once, as in a crash; the start replays the WAL)
and starts it again at the same socket, so DSNs stay valid.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg


class RestartableServer:
    def __init__(self, password: str | None = None) -> None:
        import pgserver

        self.password = password  # put in its DSN (the server trusts its socket)
        # Unix socket paths are short (107 bytes): keep the data directory near /tmp.
        self.pgdata = Path(tempfile.mkdtemp(prefix="migrator-faults-pg-"))
        self.server: Any = pgserver.get_server(self.pgdata, cleanup_mode="stop")

    @property
    def admin_dsn(self) -> str:
        dsn = str(self.server.get_uri())
        if self.password is None:
            return dsn
        from tests.secrets_sweep import with_password

        return with_password(dsn, self.password)

    def crash(self) -> None:
        """Stop at once: every backend dies without a goodbye, nothing is checkpointed."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-m", "immediate", "-w", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()  # the same socket directory, the same DSN

    def crash_and_restart(self) -> None:
        self.crash()
        self.start()

    def close(self) -> None:
        self.server.cleanup()
        shutil.rmtree(self.pgdata, ignore_errors=True)


def terminate_migrator_backends(dsn: str) -> list[int]:
    """pg_terminate_backend on every connection migrator has open to this database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select pid from pg_stat_activity where datname = current_database() "
            "and application_name like 'migrator %@%' and pid <> pg_backend_pid()"
        ).fetchall()
        for (pid,) in rows:
            conn.execute("select pg_terminate_backend(%s)", (pid,))
    return [int(pid) for (pid,) in rows]
