"""The audit trail is a hash chain: each event's hash covers its content and the hash of
the event before it, and the run's row holds the chain's length and head.

`migrator.state.chain` walks a run's events and names every broken link. These tests
write events through `record_event` as the engine does, from one connection or several
at once, and check the chain they make; the tests of what `resume`, `rollback` and
`history --verify` do with an edited trail are in test_audit_tampering.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from migrator import state
from migrator.state import EventKind, EventStatus, events
from tests.processes import wait_for


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        state.ensure_schema(conn)
    yield engine
    engine.dispose()


def new_run(engine: Engine) -> int:
    with engine.connect() as conn, conn.begin():
        return state.create_run(
            conn,
            plan="chain",
            transition="go",
            from_phase="a",
            to_phase="b",
            operator="test",
            checksum="0",
            plan_file="chain.yaml",
        )


def write(engine: Engine, run_id: int, n: int, **detail: Any) -> None:
    with engine.connect() as conn, conn.begin():
        state.record_event(
            conn, run_id, EventKind.STEP, EventStatus.DONE, step="s", detail={"n": n, **detail}
        )


def trail(engine: Engine, run_id: int) -> state.Trail:
    with engine.connect() as conn, conn.begin():
        found = state.verify_run(conn, run_id)
    assert found is not None
    return found


def test_events_chain_whatever_the_detail_and_the_session_time_zone(
    engine: Engine, sql: Any
) -> None:
    run_id = new_run(engine)
    hostile = {
        "float": 1.10,
        "big": 10**30,
        "text": "é\u2028\x00",
        "nested": {"b": 1, "a": [None, True]},
    }
    with engine.connect() as conn:
        for zone, durable in (("UTC", True), ("Asia/Kathmandu", False), ("America/St_Johns", True)):
            with conn.begin():
                conn.execute(text("select set_config('TimeZone', :z, true)"), {"z": zone})
                state.record_event(
                    conn,
                    run_id,
                    EventKind.STEP,
                    EventStatus.DONE,
                    step="s",
                    detail=hostile,
                    durable=durable,
                )
    # verified from a session in yet another time zone, the chain holds
    with engine.connect() as conn, conn.begin():
        conn.execute(text("select set_config('TimeZone', 'Pacific/Chatham', true)"))
        verdict = state.verify_run(conn, run_id)
    head = sql("select encode(chain_head, 'hex') from migrator.runs where id = %s", run_id)
    assert verdict == state.Trail(run_id, True, 3, (), head[0][0])
    last = sql("select encode(hash, 'hex') from migrator.events where seq = 3")
    assert last == head
    assert sql("select seq from migrator.events where run_id = %s order by id", run_id) == [
        (1,),
        (2,),
        (3,),
    ]
    assert sql("select chain_length from migrator.runs where id = %s", run_id) == [(3,)]
    # and it is the chain: an edit of the first event's detail breaks it there
    sql("update migrator.events set detail = detail || '{\"float\": 2}' where seq = 1")
    (first,) = sql("select id from migrator.events where seq = 1")[0]
    assert [b.event_id for b in trail(engine, run_id).breaks] == [first]


ROUNDS = 30


def test_events_of_one_run_written_from_two_connections_at_once_make_one_chain(
    engine: Engine, sql: Any
) -> None:
    run_id = new_run(engine)
    barrier = threading.Barrier(2, timeout=60)
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            with engine.connect() as conn:
                for n in range(ROUNDS):
                    barrier.wait()  # both insert at the same moment, every round
                    with conn.begin():
                        state.record_event(
                            conn,
                            run_id,
                            EventKind.STEP,
                            EventStatus.DONE,
                            step=name,
                            detail={"n": n},
                            durable=n % 2 == 0,
                        )
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(w,)) for w in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    verdict = trail(engine, run_id)
    assert (verdict.chained, verdict.events, verdict.breaks) == (True, 2 * ROUNDS, ())
    seqs = sql("select seq from migrator.events where run_id = %s order by id", run_id)
    assert [s for (s,) in seqs] == list(range(1, 2 * ROUNDS + 1))  # no fork: one line
    forks = sql(
        "select count(*) from migrator.events a join migrator.events b "
        "on a.run_id = b.run_id and a.id < b.id and a.prev_hash = b.prev_hash"
    )
    assert forks == [(0,)]


def test_an_event_waits_for_the_uncommitted_events_of_its_run_then_follows_them(
    engine: Engine, sql: Any
) -> None:
    """A step's transaction holds its `done` event uncommitted while another connection
    (the unlock of another process, say) writes an event of the same run: that one
    waits for the step to commit, then follows its events; neither deadlocks."""
    run_id = new_run(engine)
    write(engine, run_id, 0)
    other_pid: list[int] = []
    finished = threading.Event()
    failures: list[BaseException] = []

    def other() -> None:
        try:
            with engine.connect() as conn:
                other_pid.append(int(conn.execute(text("select pg_backend_pid()")).scalar_one()))
                conn.commit()
                with conn.begin():
                    state.record_event(
                        conn, run_id, EventKind.LOCK, EventStatus.UNLOCKED, detail={"by": "other"}
                    )
            finished.set()
        except BaseException as exc:
            failures.append(exc)

    with engine.connect() as step:
        with step.begin():
            state.record_event(step, run_id, EventKind.STEP, EventStatus.DONE, step="s1")
            thread = threading.Thread(target=other)
            thread.start()
            # the other connection waits for this transaction (on the run's row)
            wait_for(lambda: bool(failures) or blocked(sql, other_pid))
            assert not finished.is_set()
            state.record_event(step, run_id, EventKind.STEP, EventStatus.DONE, step="s2")
        thread.join(timeout=60)
    assert failures == [] and finished.is_set()
    order = sql(
        "select seq, kind, step from migrator.events where run_id = %s order by seq", run_id
    )
    assert order == [(1, "step", "s"), (2, "step", "s1"), (3, "step", "s2"), (4, "lock", None)]
    assert trail(engine, run_id).intact


def blocked(sql: Any, pids: list[int]) -> bool:
    """Whether the backend in `pids` (once known) waits for a lock."""
    return bool(pids) and bool(
        sql("select 1 from pg_locks where pid = %s and not granted", pids[0])
    )


def test_a_rolled_back_event_leaves_no_hole(engine: Engine, sql: Any) -> None:
    run_id = new_run(engine)
    write(engine, run_id, 0)
    with engine.connect() as conn, conn.begin() as tx:
        state.record_event(conn, run_id, EventKind.STEP, EventStatus.DONE, step="gone")
        tx.rollback()
    write(engine, run_id, 1)
    verdict = trail(engine, run_id)
    assert (verdict.chained, verdict.events, verdict.breaks) == (True, 2, ())


def test_a_run_from_before_the_chain_is_unchained_not_broken(engine: Engine, sql: Any) -> None:
    """Runs and events written before schema version 4 have no hash: such a run is
    reported unchained, and its new events stay unchained too. A run that began after
    the upgrade without a chain had it removed: that is broken."""
    old = new_run(engine)
    sql(
        "update migrator.runs set chain_length = null, chain_head = null, "
        "started_at = (select upgraded_at from migrator.schema_version where version = 4) "
        "- interval '1 day' where id = %s",
        old,
    )
    write(engine, old, 0)
    write(engine, old, 1)
    assert sql("select count(*) from migrator.events where run_id = %s and hash is null", old) == [
        (2,)
    ]
    assert trail(engine, old) == state.Trail(old, False, 2, (), None)
    recent = new_run(engine)
    write(engine, recent, 0)
    sql("update migrator.runs set chain_length = null, chain_head = null where id = %s", recent)
    breaks = trail(engine, recent).breaks
    assert [b.event_id for b in breaks][:1] == [None]
    assert "its chain was removed" in breaks[0].problem
    (event,) = sql("select id from migrator.events where run_id = %s", recent)[0]
    assert [b.event_id for b in breaks][1:] == [event]


def test_an_edit_whose_hash_was_computed_again_breaks_the_next_link(
    engine: Engine, sql: Any
) -> None:
    """Someone who edits an event and computes its hash again is seen at the next event
    (which does not follow it), or at the run's head when it was the last; only by
    computing every later hash and the head again does the edit go unseen (documented:
    the hash is not keyed)."""
    run_id = new_run(engine)
    for n in range(3):
        write(engine, run_id, n)
    ids = [i for (i,) in sql("select id from migrator.events order by seq")]
    rehash = f"sha256(e.prev_hash || {events.content_sql('e')})"
    sql(
        f"update migrator.events e set detail = '{{\"n\": 99}}', hash = {rehash} where id = %s",
        ids[1],
    )  # sha256 over the row as it was: so once more, over the row as it is now
    sql(f"update migrator.events e set hash = {rehash} where id = %s", ids[1])
    breaks = trail(engine, run_id).breaks
    assert [(b.event_id, b.problem) for b in breaks] == [
        (ids[2], "it does not follow the event before it (an event replaced or inserted)")
    ]
    # the next one made to follow it: now the run's head gives it away
    sql(
        "update migrator.events set prev_hash = (select hash from migrator.events "
        "where id = %s) where id = %s",
        ids[1],
        ids[2],
    )
    sql(f"update migrator.events e set hash = {rehash} where id = %s", ids[2])
    assert [(b.event_id, b.problem) for b in trail(engine, run_id).breaks] == [
        (None, "the last event is not the one the run recorded (replaced)")
    ]
    sql(
        "update migrator.runs set chain_head = (select hash from migrator.events where id = %s)",
        ids[2],
    )
    assert trail(engine, run_id).intact  # every hash computed again: not seen


def test_runs_from_before_the_upgrade_stay_unchained_and_verify(database: str, sql: Any) -> None:
    """A database at schema version 3 with a run and its events, upgraded to 4: the run
    is unchained (never refused), the events it gets from now on too; a new run chains."""
    for version, migration in enumerate(state.MIGRATIONS[:3], start=1):
        sql(migration)
        sql("insert into migrator.schema_version (version) values (%s)", version)
    sql(
        "insert into migrator.runs (plan, transition, from_phase, to_phase, status, operator, "
        "host, pid, plan_checksum) values ('chain', 'go', 'a', 'b', 'running', 'o', 'h', 1, '0')"
    )
    sql("insert into migrator.events (run_id, kind, status) values (1, 'state', 'applying')")
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            assert state.ensure_schema(conn) == state.SCHEMA_VERSION
        write(engine, 1, 0)
        assert trail(engine, 1) == state.Trail(1, False, 2, (), None)
        fresh = new_run(engine)
        write(engine, fresh, 0)
        verdict = trail(engine, fresh)
        assert (verdict.chained, verdict.events, verdict.intact) == (True, 1, True)
    finally:
        engine.dispose()


def test_a_schema_not_yet_upgraded_verifies_as_unchained(database: str, sql: Any) -> None:
    """`history --verify` only reads: on a schema still at version 3 every run is unchained."""
    for version, migration in enumerate(state.MIGRATIONS[:3], start=1):
        sql(migration)
        sql("insert into migrator.schema_version (version) values (%s)", version)
    sql(
        "insert into migrator.runs (plan, transition, from_phase, to_phase, status, operator, "
        "host, pid, plan_checksum) values ('chain', 'go', 'a', 'b', 'running', 'o', 'h', 1, '0')"
    )
    sql("insert into migrator.events (run_id, kind, status) values (1, 'state', 'applying')")
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        assert trail(engine, 1) == state.Trail(1, False, 1, ())
    finally:
        engine.dispose()
    assert sql("select max(version) from migrator.schema_version") == [(3,)]


def test_a_steps_events_are_sealed_into_the_chain_when_it_commits(engine: Engine, sql: Any) -> None:
    """In a step's transaction the events do not hold the run's row: `seal_chain` (called
    by the fence, before the commit) locks it and moves the head past them."""
    run_id = new_run(engine)
    write(engine, run_id, 0)
    with engine.connect() as conn, conn.begin():
        first = events.write_event(
            conn, run_id, EventKind.STEP, EventStatus.DONE, step="a", held=False
        )
        second = events.write_event(
            conn, run_id, EventKind.STEP, EventStatus.DONE, step="b", held=False, after=first
        )
        assert (first.seq, second.seq, second.prev_hash) == (2, 3, first.hash)
        assert events.seal_chain(conn, run_id, [first, second])
    verdict = trail(engine, run_id)
    assert (verdict.events, verdict.breaks) == (3, ())
    # unsealed, a committed event goes past the run's recorded end: seen
    with engine.connect() as conn, conn.begin():
        events.write_event(conn, run_id, EventKind.STEP, EventStatus.DONE, step="c", held=False)
    assert [b.problem for b in trail(engine, run_id).breaks] == [
        "the trail goes on past the run's recorded end (3 events)"
    ]


def test_a_process_held_in_its_step_keeps_no_one_waiting_and_cannot_fork_the_chain(
    engine: Engine, sql: Any
) -> None:
    """A's step transaction wrote its `done` event and is held before its commit (frozen,
    say); B takes the run over and writes events without waiting for A. When A goes on,
    its seal finds the chain moved: A's transaction rolls back, the chain stays one line."""
    run_id = new_run(engine)
    write(engine, run_id, 0)
    with engine.connect() as a, a.begin() as tx:
        held = events.write_event(
            a, run_id, EventKind.STEP, EventStatus.DONE, step="A's", held=False
        )
        with engine.connect() as b, b.begin():  # B, while A is held: it must not wait
            b.execute(text("set local lock_timeout = '5s'"))
            state.take_run(b, run_id, "00000000-0000-0000-0000-00000000000b", "B")
            state.record_event(b, run_id, EventKind.STATE, state.RunStatus.APPLYING)
        assert not events.seal_chain(a, run_id, [held])  # the chain moved: A rolls back
        tx.rollback()
    assert sql("select step from migrator.events where run_id = %s order by seq", run_id) == [
        ("s",),
        (None,),
    ]
    verdict = trail(engine, run_id)
    assert (verdict.events, verdict.breaks) == (2, ())
