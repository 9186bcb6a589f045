"""The document `status` makes of an open run (views/live.py), from rows written as a
running backfill writes them: the rate and the time left over the recent window against
the database's clock, the rows its checkpoint committed, a pause with who and since when,
and an interrupted run's settling commands. A second process's real run is in
features/status/live.feature; here the rows are placed to test the edges exactly."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

from migrator import state
from migrator.db.target import application_name
from migrator.engine.progress import RecordedProgress
from migrator.state.checkpoints import Checkpoint, save_checkpoint
from migrator.state.live import database_now
from migrator.state.locks import Holder
from migrator.state.progress import StepProgress, record_progress
from migrator.state.sql import text
from migrator.views.console import Reporter
from migrator.views.live import WRITTEN_LATELY, run_document
from migrator.views.progress import _Progress
from tests.processes import wait_for


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        state.ensure_schema(conn)
    yield engine
    engine.dispose()


def _run(conn: Connection) -> state.RunRow:
    run_id = state.create_run(
        conn,
        plan="fill",
        transition="fill",
        from_phase="empty",
        to_phase="full",
        operator="alice",
        checksum="0",
        plan_file="plans/fill.yaml",
    )
    state.record_event(
        conn,
        run_id,
        state.EventKind.STEP,
        state.EventStatus.STARTED,
        step="copy",
        detail={"index": 0},
    )
    run = state.get_run(conn, run_id)
    assert run is not None
    return run


def _progress(
    conn: Connection, run_id: int, now: datetime, samples: list[tuple[float, int]]
) -> None:
    at = now.timestamp()
    if samples[-1][0] != 0.0:  # the runner takes a sample as it writes the row
        samples = [*samples, (0.0, samples[-1][1])]
    record_progress(
        conn,
        StepProgress(
            run_id=run_id,
            step="copy",
            rows_done=samples[-1][1],
            rows_total=10_000,
            rows_written=samples[-1][1] // 2,
            streams=4,
            samples=tuple((at + t, n) for t, n in samples),
            last_batch_at=now,
        ),
    )


def test_the_rate_is_over_the_last_30_seconds_to_the_databases_now(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        # 1,000 rows a second for the last 30 s, after a slow start
        _progress(conn, run.id, now, [(-100.0, 0), (-30.5, 1_000), (0.0, 31_000 // 10)])
        doc = run_document(conn, run, plan_file="fill.yaml", held=True, holder=None, now=now)
    backfill = doc["backfill"]
    assert doc["state"] == "running"
    assert doc["current_step"] == "copy"
    assert backfill["rows_done"] == 3_100
    assert backfill["rows_per_second"] == pytest.approx(2_100 / 30.5, abs=0.1)
    assert backfill["eta_seconds"] == pytest.approx(6_900 / (2_100 / 30.5), abs=0.1)
    assert backfill["percent"] == 31.0
    assert backfill["streams"] == 4
    assert backfill["rows_written"] == 1_550
    assert backfill["paused"] is False and backfill["throttled"] is None
    assert doc["settle"] == []


def test_a_backfill_that_stopped_adding_rows_shows_a_falling_rate_then_none(
    engine: Engine,
) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        # its last rows 20 s ago: from the sample before the window (30 s to now) to now
        _progress(conn, run.id, now, [(-45.0, 0), (-35.0, 1_000), (-20.0, 2_000)])
        falling = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
        # none for longer than the window: no rate, no time left
        _progress(conn, run.id, now, [(-80.0, 0), (-60.0, 1_000), (-40.0, 2_000)])
        still = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
    assert falling["backfill"]["rows_per_second"] == pytest.approx(1_000 / 35, abs=0.1)
    assert still["backfill"]["rows_per_second"] == 0
    assert still["backfill"]["eta_seconds"] is None


def test_a_pause_names_who_and_since_when(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now, [(-2.0, 0), (-1.0, 500)])
        state.write_control(conn, "fill", "bob", paused=True)
        doc = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
    assert doc["state"] == "paused"
    assert doc["backfill"]["paused"]["by"] == "bob"
    assert isinstance(doc["backfill"]["paused"]["since"], datetime)


def test_an_interrupted_run_counts_what_its_checkpoint_committed_and_says_what_settles_it(
    engine: Engine,
) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now, [(-2.0, 0), (-1.0, 500)])
        save_checkpoint(conn, run.id, "copy", Checkpoint({"mark": 7000}, 7_000, 7, "x"))
        _age_progress(conn, run.id, 60)  # its process wrote nothing for a minute: dead
        doc = run_document(conn, run, plan_file="plans/fill.yaml", held=False, holder=None, now=now)
    assert doc["state"] == "interrupted"
    assert doc["current_step"] is None
    backfill = doc["backfill"]
    assert backfill["rows_done"] == 7_000 and backfill["percent"] == 70.0
    assert backfill["rows_written"] is None  # the record's figure is older than the checkpoint
    assert backfill["rows_per_second"] is None and backfill["eta_seconds"] is None
    assert doc["settle"] == ["migrator resume plans/fill.yaml", "migrator rollback plans/fill.yaml"]


def _age_progress(conn: Connection, run_id: int, seconds: float) -> None:
    conn.execute(
        text(
            "update migrator.progress set updated_at = updated_at - make_interval(secs => :s) "
            "where run_id = :r"
        ),
        {"s": seconds, "r": run_id},
    )


def test_a_run_whose_lock_was_lost_in_a_reconnect_is_live_while_it_writes_progress(
    engine: Engine, database: str
) -> None:
    """A database restart ends the session holding the advisory lock; the batches
    reconnect and go on writing progress: running, nothing to settle. A killed process
    (no session left) or one silent for longer than WRITTEN_LATELY is interrupted."""
    with engine.connect() as conn, conn.begin():  # (a transaction reads sessions once)
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now, [(-2.0, 0), (-1.0, 500)])
        killed = run_document(conn, run, plan_file="f", held=False, holder=None, now=now)
    # the run's process (this one: the run row's pid and host) reconnected
    with psycopg.connect(database, application_name=application_name()):
        with engine.connect() as conn, conn.begin():
            doc = run_document(conn, run, plan_file="f", held=False, holder=None, now=now)
        with engine.connect() as conn, conn.begin():
            _age_progress(conn, run.id, WRITTEN_LATELY + 1)
            silent = run_document(conn, run, plan_file="f", held=False, holder=None, now=now)
    assert doc["state"] == "running" and doc["lock_lost"] is True
    assert doc["current_step"] == "copy" and doc["settle"] == []
    assert doc["backfill"]["rows_per_second"] is not None
    for dead in (killed, silent):
        assert dead["state"] == "interrupted" and dead["lock_lost"] is False
        assert dead["settle"] == ["migrator resume f", "migrator rollback f"]


def test_the_rate_holds_when_the_runners_clock_is_a_minute_off(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        behind = now - timedelta(seconds=60)  # the runner's clock, a minute behind
        _progress(conn, run.id, behind, [(-20.0, 0), (-10.0, 1_000), (0.0, 2_000)])
        doc = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
    assert doc["backfill"]["rows_per_second"] == pytest.approx(100.0, abs=0.5)
    assert doc["backfill"]["last_batch_age_seconds"] < 5


def test_no_time_left_is_told_while_paused_or_held(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now, [(-2.0, 0), (-1.0, 500)])
        state.write_control(conn, "fill", "bob", paused=True)
        doc = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
    assert doc["state"] == "paused" and doc["backfill"]["eta_seconds"] is None


def test_percent_is_never_100_before_the_last_row(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now, [(-2.0, 0), (-1.0, 9_999)])
        doc = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
    assert doc["backfill"]["percent"] == 99.9


def test_a_run_stopped_in_a_later_step_shows_no_other_steps_figures(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now, [(-2.0, 0), (-1.0, 500)])
        _age_progress(conn, run.id, 60)
        for status in (state.EventStatus.DONE, state.EventStatus.STARTED):
            state.record_event(
                conn,
                run.id,
                state.EventKind.STEP,
                status,
                step="copy" if status == state.EventStatus.DONE else "index",
                detail={"index": 0 if status == state.EventStatus.DONE else 1},
            )
        doc = run_document(conn, run, plan_file="f", held=False, holder=None, now=now)
    assert doc["state"] == "interrupted" and doc["stopped_during"] == "index"
    assert doc["backfill"] is None


def test_an_interrupted_runs_time_stops_at_its_last_event(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn) + timedelta(hours=1)  # read an hour after it stopped
        doc = run_document(conn, run, plan_file="f", held=False, holder=None, now=now)
    assert doc["state"] == "interrupted"
    assert doc["elapsed_seconds"] < 60


def test_a_retry_after_a_lock_timeout_with_no_rows_since_is_waiting_for_a_lock(
    engine: Engine,
) -> None:
    blocker = {"pid": 42, "user": "app", "application": "psql", "state": "idle in transaction"}
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        _progress(conn, run.id, now - timedelta(seconds=5), [(-2.0, 0), (-1.0, 500)])
        state.record_event(
            conn,
            run.id,
            state.EventKind.STEP,
            state.EventStatus.RETRY,
            step="copy",
            detail={"index": 0, "error": "canceling statement due to lock timeout"},
        )
        waiting = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
        state.record_event(
            conn,
            run.id,
            state.EventKind.STEP,
            state.EventStatus.DONE,
            step="copy",
            detail={"index": 0, "blockers": [blocker]},
        )
        moved_on = run_document(conn, run, plan_file="f", held=True, holder=None, now=now)
    assert waiting["state"] == "waiting_for_lock"
    assert moved_on["state"] == "running"


def test_a_resumed_run_names_the_process_that_holds_its_lock(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        now = database_now(conn)
        holder = Holder(run.id, "carol", "db-runner-2", 4242, now)
        doc = run_document(conn, run, plan_file="f", held=True, holder=holder, now=now)
    assert (doc["operator"], doc["host"], doc["pid"]) == ("carol", "db-runner-2", 4242)


def test_after_a_pause_the_recorded_rate_is_measured_afresh(engine: Engine) -> None:
    """The runner's record (engine/progress.py): no time left while paused, and 3 s after
    continue the rate of those 3 s, not the pause spread over the window."""
    clock = [1000.0]
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
    display = _Progress(Reporter(io.StringIO(), io.StringIO()), total=11_500, every=3600.0)
    progress = RecordedProgress(
        display, engine, run.id, "copy", total=11_500, clock=lambda: clock[0]
    )

    def document() -> dict[str, Any]:
        with engine.connect() as conn, conn.begin():
            now = database_now(conn)
            return run_document(conn, run, plan_file="f", held=True, holder=None, now=now)

    for _ in range(30):
        clock[0] += 1
        progress.advance(100)
    progress.status("paused")
    clock[0] += 600
    paused = document()["backfill"]
    progress.status("running")
    for _ in range(3):
        clock[0] += 1
        progress.advance(100)
    again = document()["backfill"]
    assert paused["throttled"] is None and paused["eta_seconds"] is None
    assert again["rows_done"] == 3_300
    assert again["rows_per_second"] == pytest.approx(100.0, rel=0.05)


def test_a_run_whose_lock_was_lost_names_whom_its_sessions_wait_for(
    engine: Engine, database: str
) -> None:
    with engine.connect() as conn, conn.begin():
        run = _run(conn)
        _progress(conn, run.id, database_now(conn), [(-2.0, 0), (-1.0, 500)])
        conn.execute(text("create table held (id int)"))
    with psycopg.connect(database, autocommit=True) as blocker:
        blocker.execute("begin")
        blocker.execute("lock table held")
        blocker_pid = blocker.info.backend_pid
        with psycopg.connect(database, application_name=application_name()) as waiter:
            waiting = threading.Thread(target=lambda: waiter.execute("lock table held"))
            waiting.start()

            def waits() -> bool:  # the run's session waits for the lock (a fresh snapshot)
                with psycopg.connect(database, autocommit=True) as look:
                    return bool(
                        look.execute(
                            "select 1 from pg_stat_activity where application_name = %s "
                            "and wait_event_type = 'Lock'",
                            (application_name(),),
                        ).fetchall()
                    )

            try:
                wait_for(waits)
                with engine.connect() as conn, conn.begin():
                    now = database_now(conn)
                    doc = run_document(conn, run, plan_file="f", held=False, holder=None, now=now)
            finally:
                blocker.execute("rollback")
                waiting.join()
    assert doc["state"] == "waiting_for_lock" and doc["lock_lost"] is True
    assert [b["pid"] for b in doc["lock_wait"]["blockers"]] == [blocker_pid]
