"""Scenarios of features/connections: a run whose connections the server drops, or whose
database goes away for longer than the reconnect window, run for real against PostgreSQL.

The fault happens from a thread of the test while the scenario's `migrator` command runs
in the foreground, at a moment the thread waits for: a step (or a backfill batch) is in
the middle of its work, its rows written and nothing committed, held there by a gate
(tests/faults/gates.py) until the fault has struck.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.faults.gates import Gate
from tests.faults.servers import RestartableServer, terminate_migrator_backends
from tests.helpers import fresh_database

scenarios("connections")

WAIT = 60.0  # seconds a fault waits for its moment, at most


@pytest.fixture
def gates() -> Iterator[list[Gate]]:
    """The scenario's gates, closed at its end."""
    opened: list[Gate] = []
    yield opened
    for gate in opened:
        gate.close()


def _gate(dsn: str, gates: list[Gate], table: str, **match: Any) -> Gate:
    """A gate that holds the transaction writing the row `match` of `table`."""
    gate = Gate(dsn)
    gates.append(gate)
    gate.at_row(table, **match)
    return gate


class Fault:
    """Something the server will do to a run: `act` once `moment` holds, from a thread."""

    def __init__(self, what: str, moment: Callable[[], bool], act: Callable[[], None]) -> None:
        self.what = what
        self.moment = moment
        self.act = act
        self.fired = threading.Event()
        self.problem: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._wait, name=what, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        deadline = time.monotonic() + WAIT
        try:
            while not self._stop.is_set():
                if self.moment():
                    self.act()
                    self.fired.set()
                    return
                if time.monotonic() > deadline:
                    self.problem = f"{self.what}: its moment did not come within {WAIT:g}s"
                    return
                self._stop.wait(0.05)
        except Exception as exc:
            self.problem = f"{self.what}: {type(exc).__name__}: {exc}"

    def disarm(self) -> str | None:
        """Stop waiting; what went wrong (None when the fault happened as planned)."""
        self._stop.set()
        self._thread.join(timeout=WAIT)
        if self._thread.is_alive():
            return f"{self.what}: still acting after {WAIT:g}s"
        if self.problem is None and not self.fired.is_set():
            return f"{self.what}: never happened"
        return self.problem


@pytest.fixture
def faults() -> Iterator[list[Fault]]:
    """The scenario's faults; each must have happened by the end of the scenario."""
    armed: list[Fault] = []
    yield armed
    problems = [p for p in (fault.disarm() for fault in armed) if p]
    assert not problems, "; ".join(problems)


@pytest.fixture
def stoppable_database(
    restartable_server: RestartableServer, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh database on the restartable server; the server is running again at the end."""
    with fresh_database(restartable_server.admin_dsn, request.config) as dsn:
        try:
            yield dsn
        finally:
            restartable_server.start()  # a scenario that stopped before the database was back


@given("the database is on a server that can be stopped")
def _(
    world: dict[str, Any], stoppable_database: str, restartable_server: RestartableServer
) -> None:
    world["dsn"] = stoppable_database
    world["server"] = restartable_server


def _drop_connections(dsn: str) -> None:
    if not terminate_migrator_backends(dsn):
        raise AssertionError("migrator had no connection to drop")


def _drop_connections_at(gate: Gate) -> None:
    """Drop migrator's connections while the gate holds one of them, then let it go."""
    _drop_connections(gate.dsn)
    gate.open_row()  # what is done again on a new connection goes through


@given(parsers.parse('the server will drop every connection of the run while step "{step}" runs'))
def _(step: str, world: dict[str, Any], faults: list[Fault], gates: list[Gate]) -> None:
    gate = _gate(world["dsn"], gates, "events", kind="step", status="done", step=step)
    faults.append(
        Fault(
            f"dropping migrator's connections during step {step}",
            lambda: gate.reached_row() is not None,
            lambda: _drop_connections_at(gate),
        )
    )


@given("the server will drop every connection of the run in the middle of a batch")
def _(world: dict[str, Any], faults: list[Fault], gates: list[Gate]) -> None:
    gate = _gate(world["dsn"], gates, "checkpoints", batches_done=2)  # the second batch
    faults.append(
        Fault(
            "dropping migrator's connections during a batch after the first",
            lambda: gate.reached_row() is not None,
            lambda: _drop_connections_at(gate),
        )
    )


def _on_disk(dsn: str) -> None:
    """Write everything committed so far to disk, as any session's next durable commit
    does. A step's start is committed without waiting for the disk (docs/concepts.md, "Exactly
    once"): a crash right after it may lose that record, by design; on a server that
    goes on committing while the step runs, it is soon on disk."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        ((written,),) = conn.execute("select pg_current_wal_insert_lsn()::text").fetchall()
        conn.execute("set local synchronous_commit = on")
        conn.execute("create temporary table wal_flush () on commit drop")  # writes WAL
        conn.commit()  # and so waits for the disk
        ((flushed,),) = conn.execute(
            "select pg_current_wal_flush_lsn() >= %s::pg_lsn", (written,)
        ).fetchall()
        if not flushed:
            raise AssertionError("the server did not write its WAL to disk")


@given(parsers.parse('the database will go away while step "{step}" runs'))
def _(step: str, world: dict[str, Any], faults: list[Fault], gates: list[Gate]) -> None:
    dsn, server = world["dsn"], world["server"]
    gate = _gate(dsn, gates, "events", kind="step", status="done", step=step)

    def crash() -> None:
        _on_disk(dsn)
        server.crash()  # the step's transaction is still held by the gate

    faults.append(
        Fault(
            f"stopping the server during step {step}", lambda: gate.reached_row() is not None, crash
        )
    )


@given("the database is back")
def _(world: dict[str, Any]) -> None:
    world["server"].start()


@then("the output does not show the database password")
def _(world: dict[str, Any]) -> None:
    password = psycopg.conninfo.conninfo_to_dict(world["dsn"]).get("password")
    assert password, "the scenario's DSN has no password to look for"
    assert str(password) not in world["output"], world["output"]
