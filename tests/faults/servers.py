"""A PostgreSQL server of the fault tests' own, that they may crash and start again.

The session-wide test server is shared by every other test: never restarted. This
one lives in its own directory; `crash_and_restart` stops it with `pg_ctl -m
immediate` (every backend dies at once, as in a crash; the start replays the WAL)
and starts it again at the same socket, so DSNs stay valid. It is of the session's
major: the embedded server, or the programs MIGRATOR_TEST_PG names
(`migrator.testing_servers`).
"""

from __future__ import annotations

from pathlib import Path

import psycopg


class RestartableServer:
    def __init__(self, password: str | None = None, programs: Path | None = None) -> None:
        from migrator import testing_servers

        self.password = password  # put in its DSN (the server trusts its socket)
        self._started = testing_servers.throwaway(programs, "migrator-faults-pg-")
        self.server = self._started.__enter__()
        self.pgdata = self.server.pgdata

    @property
    def admin_dsn(self) -> str:
        dsn = self.server.dsn
        if self.password is None:
            return dsn
        from tests.secrets_sweep import with_password

        return with_password(dsn, self.password)

    def crash(self) -> None:
        """Stop at once: every backend dies without a goodbye, nothing is checkpointed."""
        self.server.crash()

    def start(self) -> None:
        self.server.restart()  # the same socket directory, the same DSN

    def crash_and_restart(self) -> None:
        self.crash()
        self.start()

    def close(self) -> None:
        self._started.__exit__(None, None, None)


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
