"""What the backfill tests check: a copy that is exact, and a running backfill that holds.

A running backfill looks at its live controls (`migrator.controls`: pause, batch size)
before each batch, then asks its throttle query. `held_between_looks` stops it at those
looks with a table gate (tests/faults/gates.py) instead of sleeping and hoping: what the
test reads is the same at each look, while no batch is in flight.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from tests.faults.gates import Gate
from tests.helpers import query
from tests.plans import BACKFILL_ROWS
from tests.processes import wait_for

T = TypeVar("T")

Sql = Callable[..., list[tuple[Any, ...]]]


def assert_exact(
    sql: Sql, source: str = "src", target: str = "dst", rows: int | None = BACKFILL_ROWS
) -> None:
    """`target` holds every row of `source` exactly once: nothing twice, nothing missed,
    nothing else; `rows` of them (None: as many as `source` has). `sql` runs a query on
    the test's database."""
    twice = f"select count(*) from (select id from {target} group by id having count(*) > 1) d"
    missing = (
        f"select count(*) from (select id, v from {source} except select id, v from {target}) m"
    )
    assert sql(twice) == [(0,)]
    assert sql(missing) == [(0,)]
    if rows is not None:
        assert sql(f"select count(*) from {target}") == [(rows,)]
    else:
        assert sql(f"select count(*) from {target}") == sql(f"select count(*) from {source}")


def _sessions(dsn: str) -> str:
    """What the sessions of migrator on the database are doing (for a failure message)."""
    rows = query(
        dsn,
        "select pid, state, wait_event_type, xact_start is not null, left(query, 60) "
        "from pg_stat_activity where datname = current_database() "
        "and application_name like 'migrator %@%' order by pid",
    )
    return "sessions of migrator (pid, state, waits for, in a transaction, query): " + repr(rows)


@contextmanager
def held_at_batch(
    dsn: str, batch: int, proc: subprocess.Popen[str] | None = None
) -> Iterator[None]:
    """Hold a running backfill while the body runs: the transaction of its `batch`-th batch
    waits at its checkpoint (rows written, nothing committed), so that the backfill cannot
    finish, or take another batch, before the body is done."""
    gate = Gate(dsn)
    try:
        gate.at_row("checkpoints", batches_done=batch)
        wait_for(lambda: gate.reached_row() is not None, proc=proc)
        yield
    finally:
        gate.open()
        gate.close()


def no_batch_in_flight(dsn: str) -> bool:
    """No session of migrator on the database is inside a transaction, but those waiting
    for a lock (a gate's): no batch is running or committing."""
    rows = query(
        dsn,
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and application_name like 'migrator %@%' and xact_start is not null "
        "and wait_event_type is distinct from 'Lock'",
    )
    return rows == [(0,)]


def held_between_looks(
    dsn: str, read: Callable[[], T], looks: int = 3, proc: subprocess.Popen[str] | None = None
) -> T:
    """What `read` shows of a running backfill that holds (paused, or its throttle query
    holding), the same at each of `looks` looks it takes at its controls, with no batch in
    flight at any of them. Fails when it moved from one look to the next, or when the
    backfill never came to look (wait_for's bound; at once if `proc`, its process, ended)."""
    gate = Gate(dsn)
    try:
        held: list[T] = []
        for look in range(looks):
            gate.at_table("migrator.controls")
            try:
                wait_for(
                    lambda: (
                        gate.reached_table("migrator.controls") is not None
                        and no_batch_in_flight(dsn)
                    ),
                    proc=proc,
                )
            except AssertionError as exc:
                raise AssertionError(f"look {look + 1}: {exc}; {_sessions(dsn)}") from None
            seen = read()
            assert not held or seen == held[0], f"moved by look {look + 1}: {held[0]} -> {seen}"
            held.append(seen)
            gate.open()
    finally:
        gate.close()
    return held[0]


@contextmanager
def batch_connection_lost(dsn: str, batch: int = 2) -> Iterator[list[int]]:
    """While the body runs a backfill: the transaction of its `batch`-th batch is held at
    its checkpoint (its rows written, nothing committed), its session is terminated from
    the server, then everything goes on. Yields the list of the pids terminated."""
    gate = Gate(dsn)
    gate.at_row("checkpoints", batches_done=batch)
    ended: list[int] = []

    def strike() -> None:
        wait_for(lambda: gate.reached_row() is not None)
        pid = gate.reached_row()
        if query(dsn, "select pg_terminate_backend(%s)", pid) == [(True,)]:
            ended.append(int(pid or 0))
        gate.open_row()  # the batch, done again on a new connection, goes through

    thread = threading.Thread(target=strike)
    thread.start()
    try:
        yield ended
    finally:
        thread.join()
        gate.close()
