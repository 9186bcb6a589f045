"""Parallel backfill streams: exact when batches commit out of order, killed, resumed with
other settings, terminated, paused, failing; the range algebra behind it."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from migrator import StepContext
from migrator.db.target import Target, connect_engine
from migrator.plugin.checkpoints import Checkpoint, save_checkpoint
from migrator.state import create_run, ensure_schema
from migrator_backfill.backfill import BackfillConfig, checksum
from migrator_backfill.backfill import run as run_backfill
from migrator_backfill.position import Batch, Planner, Position
from migrator_backfill.streams import Done, Job, Stream
from migrator_backfill.walk import in_key_order, prepare, probe, start
from tests.backfills import (
    assert_exact,
    batch_connection_lost,
    held_at_batch,
    held_between_looks,
)
from tests.plans import BACKFILL_ROWS, COPY, backfill_plan
from tests.processes import sigkill, spawn, wait_for

ROWS = BACKFILL_ROWS
# Every fourth batch (those starting at a multiple of 4000) is slow: the streams that
# take the others overtake it, so batches commit out of order.
UNEVEN = (
    "insert into dst select id, v from src, "
    "(select pg_sleep(case when cast(:lo as bigint) % 4000 = 0 then :slow else 0.01 end)) s "
    "where id > :lo and id <= :hi"
)


@pytest.fixture
def source(sql: Any) -> None:
    sql(
        "create table src (id bigint primary key, v text); "
        f"insert into src select g, md5(g::text) from generate_series(1, {ROWS}) g; "
        # no unique key on purpose: a batch that ran twice would leave duplicates
        "create table dst (id bigint, v text)"
    )


def plan_text(*, parallel: int, **options: Any) -> str:
    return backfill_plan(parallel=parallel, variables="{slow: 0.5}", **options)


DONE = {"key": str(ROWS), "end": str(ROWS), "written": ROWS}  # every row walked and written


def position(sql: Any) -> tuple[dict[str, Any], int, int]:
    rows = sql("select position, rows_done, batches_done from migrator.checkpoints")
    return rows[0][0], int(rows[0][1]), int(rows[0][2])


def assert_committed_is_the_position(sql: Any) -> None:
    """What dst holds is exactly the keys the checkpoint says are done, each once."""
    point, rows_done, _ = position(sql)
    ranges = [(0, int(point["key"]))] + [(int(a), int(b)) for a, b in point.get("done", [])]
    covered = " or ".join(f"(id > {a} and id <= {b})" for a, b in ranges)
    expected = sql(f"select count(*) from src where {covered}")[0][0]
    assert sql("select count(*), count(distinct id) from dst") == [(expected, expected)]
    assert sql(f"select count(*) from dst where not ({covered})") == [(0,)]
    assert rows_done == expected


def has_ranges_beyond_the_mark(sql: Any) -> bool:
    if sql("select to_regclass('migrator.checkpoints')") == [(None,)]:
        return False
    rows = sql("select position ? 'done' from migrator.checkpoints")
    return bool(rows and rows[0][0])


def killed_out_of_order(write_plan: Any, database: str, sql: Any, parallel: int) -> Any:
    """A plan whose backfill was SIGKILLed while ranges beyond its mark were committed."""
    plan = write_plan(plan_text(parallel=parallel, statement=UNEVEN))
    proc = spawn("apply", plan, "--to", "full", "--dsn", database)
    try:
        wait_for(lambda: has_ranges_beyond_the_mark(sql), proc=proc)
    finally:
        sigkill(proc)
    point, rows_done, _ = position(sql)
    assert point.get("done"), point
    assert 0 < rows_done < ROWS
    assert len(point["done"]) <= parallel - 1  # each gap below a range is a batch in flight
    assert_committed_is_the_position(sql)
    return plan


def memo_of(sql: Any) -> dict[str, Any]:
    rows = sql(
        "select detail->'memo' from migrator.events where kind = 'step' and status = 'done' "
        "order by id desc limit 1"
    )
    return dict(rows[0][0])


# -- through the command line, as an operator runs it ---------------------------------------


@pytest.mark.parametrize("parallel", [3, 16])  # 16: the most, each stream a connection
def test_parallel_streams_copy_every_row_once(
    migrator: Any, write_plan: Any, sql: Any, source: None, parallel: int
) -> None:
    result = migrator("apply", write_plan(plan_text(parallel=parallel)), "--to", "full")
    assert result.code == 0, result.out
    assert_exact(sql)
    memo = memo_of(sql)
    assert (memo["rows_walked"], memo["batches"], memo["failed_batches"], memo["parallel"]) == (
        ROWS,
        20,
        0,
        parallel,
    )
    assert memo["slowest_batch_seconds"] >= memo["mean_batch_seconds"] > 0
    assert "20,000 rows walked, 20,000 written, in 20 batches, 0 failed, 0 retries" in result.out
    assert f"{parallel} parallel streams" in result.out
    assert position(sql) == (DONE, ROWS, 20)  # all merged into the mark


def test_killed_with_batches_done_out_of_order_resumes_exactly(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = killed_out_of_order(write_plan, database, sql, parallel=3)
    point, _, _ = position(sql)
    result = migrator("resume", plan)
    assert result.code == 0, result.out
    assert f"resuming after key {point['key']} and {len(point['done'])} ranges beyond it" in (
        result.out
    )
    assert_exact(sql)
    assert position(sql) == (DONE, ROWS, 20)  # same batch size: same 20 batches
    assert memo_of(sql)["rows_walked"] == ROWS


@pytest.mark.parametrize(("parallel", "batch_size"), [(1, 700), (2, 3000)])
def test_resume_with_other_streams_and_batch_size_after_an_out_of_order_kill(
    write_plan: Any,
    database: str,
    migrator: Any,
    sql: Any,
    source: None,
    parallel: int,
    batch_size: int,
) -> None:
    plan = killed_out_of_order(write_plan, database, sql, parallel=3)
    plan.write_text(
        plan.read_text()
        .replace("parallel: 3", f"parallel: {parallel}")
        .replace("slow: 0.5", "slow: 0")
    )
    refused = migrator("resume", plan)
    assert refused.code == 2 and "changed since run" in refused.err  # the plan file changed
    result = migrator("resume", plan, "--force", "--batch-size", str(batch_size))
    assert result.code == 0, result.out
    assert_exact(sql)
    point, rows_done, _ = position(sql)
    assert point == DONE and rows_done == ROWS


def test_a_terminated_stream_is_retried_and_exact(
    migrator: Any, write_plan: Any, sql: Any, source: None, database: str
) -> None:
    plan = write_plan(plan_text(parallel=2, batch_size=2000))
    with batch_connection_lost(database) as terminated:
        result = migrator("apply", plan, "--to", "full")
    assert terminated, "the test never caught a batch to terminate"
    assert result.code == 0, result.out
    assert "lost connection, retrying" in result.out
    assert_exact(sql)
    memo = memo_of(sql)
    assert memo["retries"] >= 1 and memo["failed_batches"] == 0  # redone, not lost
    assert position(sql) == (DONE, ROWS, 10)


def test_throttle_query_pause_and_continue_hold_every_stream(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    sql("create table pressure (high boolean); insert into pressure values (true)")
    extra = "          throttle: 100ms\n          throttle_query: select high from pressure\n"
    plan = write_plan(plan_text(parallel=3, extra=extra))
    proc = spawn("apply", plan, "--to", "full", "--dsn", database)
    try:
        wait_for(lambda: sql("select to_regclass('migrator.checkpoints')") != [(None,)], proc=proc)
        wait_for(lambda: sql("select count(*) from migrator.checkpoints") == [(1,)], proc=proc)
        # at each look at its controls and its throttle query, no batch was done
        held_between_looks(database, lambda: position(sql)[2], proc=proc)
        assert position(sql)[2] == 0  # under pressure: no stream got a batch
        sql("update pressure set high = false")
        with held_at_batch(database, 4, proc):  # three batches done; it cannot finish meanwhile
            assert migrator("pause", plan).code == 0
        # the batches in flight commit; then, at each look at its controls, nothing moved
        held = held_between_looks(database, lambda: position(sql), proc=proc)
        assert position(sql) == held  # no stream took a batch while paused
        assert held[1] < ROWS
        assert_committed_is_the_position(sql)
        status = json.loads(migrator("status", plan, "--output", "json").out)
        assert status["paused"] is True
        assert migrator("continue", plan).code == 0
        out, err = proc.communicate(timeout=60)
    finally:
        sigkill(proc)
    assert proc.returncode == 0, out + err
    assert "the throttle query holds" in out
    assert_exact(sql)


def test_a_failing_stream_stops_the_others_with_every_batch_whole(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    failing = (
        "insert into dst select id, (1 / (id - 12345))::text || v from src "
        "where id > :lo and id <= :hi"
    )
    text = plan_text(parallel=3, statement=failing).replace(
        "rollback: {sql: truncate dst}", "rollback: {sql: select 1}"
    )
    result = migrator("apply", write_plan(text), "--to", "full")
    assert result.code == 1
    assert "division by zero" in result.out
    # the batches that committed stayed, each whole and recorded; the failed one left nothing
    assert sql("select count(*) from dst where id > 12000 and id <= 13000") == [(0,)]
    assert_committed_is_the_position(sql)
    assert 0 < position(sql)[1] < ROWS
    failed = sql(
        "select detail->>'error' from migrator.events where kind = 'step' and status = 'failed'"
    )
    assert "division by zero" in failed[0][0]


def test_max_rate_holds_for_all_streams_together(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    plan = write_plan(plan_text(parallel=3, extra="          max_rate: 20000\n"))
    result = migrator("apply", plan, "--to", "full")
    assert result.code == 0, result.out
    assert_exact(sql)
    # 20 batches of 1,000 at 20,000 rows/s: the 20th may start 0.95 s after the first;
    # a rate per stream would have let three streams finish in about a third of that.
    assert memo_of(sql)["seconds"] >= 0.9


def test_batch_timeout_applies_to_each_stream(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    slow = (
        "insert into dst select id, v from src, "
        "(select pg_sleep(case when cast(:lo as bigint) = 5000 then 3 else 0 end)) s "
        "where id > :lo and id <= :hi"
    )
    text = plan_text(parallel=2, statement=slow, extra="          batch_timeout: 500ms\n")
    result = migrator("apply", write_plan(text), "--to", "full")
    assert result.code == 1
    assert "statement timeout" in result.out
    assert sql("select count(*) from dst") == [(0,)]  # undone by its rollback


def test_dry_run_and_validate_speak_of_streams(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    plan = write_plan(plan_text(parallel=4, batch_size=3000))
    result = migrator("plan", plan, "--to", "full")
    assert result.code == 0, result.out
    assert f"{ROWS:,} rows in 7 batches of 3,000" in result.out
    assert "4 parallel streams: 4 connections run batches at once" in result.out
    assert "in batches of 3000, 4 parallel streams" in result.out
    assert sql("select count(*) from dst") == [(0,)]
    for wrong in (0, 17):
        bad = migrator("validate", write_plan(plan_text(parallel=wrong), f"bad{wrong}.yaml"))
        assert bad.code != 0
        assert "backfill.parallel" in bad.out + bad.err


# -- the streams and the range algebra, on real committed records ---------------------------


def test_positions_merge_touching_ranges_into_the_mark() -> None:
    p = Position("0").add("20", "30")
    assert p.dump() == {"key": "0", "done": [["20", "30"]]}
    p = p.add("40", "50").add("30", "40")  # joins both neighbours into one range
    assert p.done == (("20", "50"),)
    p = p.add("0", "10")
    assert p.dump() == {"key": "10", "done": [["20", "50"]]}
    p = p.add("10", "20")  # closes the gap: the mark takes the range in
    assert p.dump() == {"key": "50"}
    assert Position.load({"key": "7"}) == Position("7")  # checkpoints of earlier versions
    with pytest.raises(ValueError, match="not a backfill position"):
        Position.load({"position": 3})


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    db = connect_engine(Target(database, "--dsn"))
    with db.connect() as conn:
        ensure_schema(conn)
    yield db
    db.dispose()


def new_run(db: Engine) -> int:
    with db.connect() as conn, conn.begin():
        return create_run(
            conn,
            plan="p",
            transition="t",
            from_phase="a",
            to_phase="b",
            operator="test",
            checksum="x",
            plan_file="p.yaml",
        )


def test_key_order_follows_the_column_type_and_collation(engine: Engine, sql: Any) -> None:
    sql('create table n (k numeric primary key); create table c (k text collate "C" primary key)')
    with engine.connect() as conn:
        numbers = prepare(conn, "n", "k", None, "select :lo, :hi")
        assert in_key_order(conn, numbers, ["100", "9", "10.5"]) == ["9", "10.5", "100"]
        text = prepare(conn, "c", "k", None, "select :lo, :hi")
        assert in_key_order(conn, text, ["b", "a", "B"]) == ["B", "a", "b"]


def test_after_a_lost_connection_the_checkpoint_tells_whether_a_batch_committed(
    engine: Engine, database: str, sql: Any, source: None
) -> None:
    run_id = new_run(engine)
    with engine.connect() as conn:
        walk = prepare(conn, "src", "id", None, COPY)
    with engine.connect() as conn, conn.begin():
        save_checkpoint(conn, run_id, "copy", Checkpoint({"key": "0"}, 0, 0, checksum(COPY)))
    job = Job(engine, run_id, "copy", walk.statement, walk.covers_sql, {}, checksum(COPY))
    stream = Stream(job, threading.Event())
    news: list[Any] = []
    for lo, hi in (("0", "100"), ("200", "300"), ("300", "900")):  # (100, 200] still open
        assert stream.run(Batch(lo, hi, int(hi) - int(lo)), news.append)
    assert position(sql)[0] == {"key": "100", "done": [["200", "900"]], "written": 800}
    for lo, hi, committed in (
        ("0", "100", True),  # at or below the mark
        ("200", "300", True),  # inside a range done beyond it
        ("300", "900", True),
        ("100", "200", False),  # the gap
        ("900", "1000", False),  # beyond everything
    ):
        assert stream.done_after_all(Batch(lo, hi, 0), None) is committed, (lo, hi)
    # the session of the lost connection still runs (the server did not notice yet): it is
    # ended before the checkpoint is read, so that it cannot commit afterwards
    other = psycopg.connect(database)
    row = other.execute(
        "select pid, backend_start from pg_stat_activity where pid = pg_backend_pid()"
    ).fetchone()
    assert row is not None
    assert stream.done_after_all(Batch("100", "200", 100), (int(row[0]), row[1])) is False
    with pytest.raises(psycopg.OperationalError):
        other.execute("select 1")
    other.close()
    stream.close()


TEXT_KEYS = "create table keys (k text primary key); create table got (k text)"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(  # three streams, the second batch committed first: ranges beyond the mark
    keys=set(range(1, 200)),
    first_size=10,
    streams=3,
    seed=3,
    kill_after=5,
    resume_size=7,
    resume_parallel=2,
)
@given(
    keys=st.sets(st.integers(1, 500), min_size=1, max_size=160),
    first_size=st.integers(3, 40),
    streams=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    kill_after=st.integers(0, 40),
    resume_size=st.integers(3, 40),
    resume_parallel=st.integers(1, 3),
)
def test_any_interruption_resumed_with_any_settings_is_exact(
    engine: Engine,
    sql: Any,
    keys: set[int],
    first_size: int,
    streams: int,
    seed: int,
    kill_after: int,
    resume_size: int,
    resume_parallel: int,
) -> None:
    """Batches of a first process commit in any order its streams allow, it dies at any
    moment; a second one with another batch size and number of streams finishes: every
    key exactly once. Text keys, so that their order is PostgreSQL's, not Python's."""
    sql(f"drop table if exists keys, got; {TEXT_KEYS}")
    sql("insert into keys select 'k' || g from unnest(%s::int[]) g", sorted(keys))
    statement = "insert into got select k from keys where k > :lo and k <= :hi"
    run_id = new_run(engine)
    rng = random.Random(seed)
    config = BackfillConfig(
        table="keys",
        key="k",
        statement=statement,
        batch_size=resume_size,
        parallel=resume_parallel,
    )
    with engine.connect() as conn:
        walk = prepare(conn, "keys", "k", None, statement)
        first = start(conn, walk)
    assert first is not None
    with engine.connect() as conn, conn.begin():
        save_checkpoint(conn, run_id, "copy", Checkpoint({"key": first}, 0, 0, checksum(statement)))

    # the first process: up to `streams` batches in flight, committed in random order
    def find(lo: str, size: int, upto: str | None) -> tuple[str, int] | None:
        with engine.connect() as conn:
            return probe(conn, walk, {}, lo, size, upto)

    planner = Planner(Position(first), [], find)
    stream = Stream(
        Job(engine, run_id, "copy", walk.statement, walk.covers_sql, {}, checksum(statement)),
        threading.Event(),
    )
    in_flight: list[Batch] = []
    commits = kill_after
    news: list[Any] = []
    exhausted = False
    while commits:
        if not exhausted and len(in_flight) < streams:
            batch = planner.next(first_size)
            if batch is None:
                exhausted = True
            else:
                in_flight.append(batch)
            continue
        if not in_flight:
            break
        assert stream.run(in_flight.pop(rng.randrange(len(in_flight))), news.append)
        commits -= 1
    stream.close()
    assert all(isinstance(n, Done) for n in news)
    point = sql("select position from migrator.checkpoints where run_id = %s", run_id)[0][0]
    assert len(point.get("done", [])) <= max(streams - 1, 0)

    # the second process, through the action itself
    ctx = StepContext(
        connection=None, variables={}, plan="p", operator="test", run_id=run_id, db=engine
    )
    ctx.step = "copy"
    ctx.force = False
    run_backfill(ctx, SimpleNamespace(backfill=config))
    assert sql("select count(*), count(distinct k) from got") == [(len(keys), len(keys))]
    assert sql("select count(*) from (select k from keys except select k from got) m") == [(0,)]
    final = sql("select position, rows_done from migrator.checkpoints where run_id = %s", run_id)
    largest = sql("select max(k) from keys")[0][0]  # an old checkpoint: it ends at the largest
    assert final == [({"key": largest, "end": largest, "written": len(keys)}, len(keys))]
