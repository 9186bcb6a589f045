"""The session's servers are of the major MIGRATOR_TEST_PG chooses (the embedded one by default)."""

from __future__ import annotations

import psycopg

from migrator import testing_servers
from migrator.db import embedded
from migrator.testing import Postgres
from tests.faults.servers import RestartableServer


def chosen_major() -> int:
    programs = testing_servers.chosen_programs()
    if programs is None:
        return embedded.major()
    return int(testing_servers.programs_version(programs).split(".")[0])


def server_major(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.info.server_version // 10000


def test_the_shared_server_is_of_the_chosen_major(pg_server: Postgres, admin_dsn: str) -> None:
    assert server_major(admin_dsn) == chosen_major()
    assert pg_server.version.split(".")[0] == str(chosen_major())
    assert pg_server.programs is not None
    assert testing_servers.server_version(pg_server.programs) == pg_server.version


def test_the_restartable_server_is_of_the_same_major(
    restartable_server: RestartableServer, admin_dsn: str
) -> None:
    assert server_major(restartable_server.admin_dsn) == server_major(admin_dsn)
    expected = testing_servers.chosen_programs() or embedded.programs()
    assert restartable_server.server.programs == expected
