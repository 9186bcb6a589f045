"""Backfills under live traffic: they end, count the rows they wrote, and wait for a row
lock no longer than the step's lock_timeout, naming who held it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.plans import live_plan
from tests.processes import has_checkpoint, sigkill, spawn, wait_for

ROWS = 1000


COPY = "insert into dst select id, v from src where id > :lo and id <= :hi on conflict do nothing"


@pytest.fixture
def source(sql: Any) -> None:
    sql(
        "create table src (id bigint primary key, v text); "
        f"insert into src select g, 'v' || g from generate_series(1, {ROWS}) g; "
        "create table dst (id bigint primary key, v text)"
    )


@pytest.fixture
def growing(sql: Any, source: None) -> None:
    """The application at work: each batch that writes to dst adds 50 rows to src, in the
    batch's own transaction (so the rows come exactly as batches commit, no clock
    involved), until src holds 3 * ROWS rows."""
    sql(
        f"create sequence grow_ids start {ROWS + 1}; "
        "create function grow() returns trigger language plpgsql as $$ begin "
        "insert into src select nextval('grow_ids'), 'new' from generate_series(1, 50) "
        f"where (select max(id) from src) < {3 * ROWS}; return null; end $$; "
        "create trigger grow after insert on dst for each statement execute function grow()"
    )


def memo_of(sql: Any) -> dict[str, Any]:
    rows = sql(
        "select detail->'memo' from migrator.events where kind = 'step' and status = 'done' "
        "and step = 'fill'"
    )
    return dict(rows[-1][0])


@pytest.mark.parametrize("parallel", [1, 3])
def test_a_backfill_ends_at_the_largest_key_it_started_with(
    migrator: Any, write_plan: Any, sql: Any, growing: None, parallel: int
) -> None:
    plan = live_plan(COPY, extra=f"          parallel: {parallel}\n")
    result = migrator("apply", write_plan(plan), "--to", "b")
    assert result.code == 0, result.out
    assert sql("select count(*), max(id) from dst") == [(ROWS, ROWS)]  # none of the new rows
    assert sql("select count(*) from src") == [(ROWS + 10 * 50,)]  # 10 batches, 50 rows each
    memo = memo_of(sql)
    assert (memo["rows_walked"], memo["rows_written"], memo["batches"]) == (ROWS, ROWS, 10)
    point = sql("select position from migrator.checkpoints")[0][0]
    assert point["end"] == str(ROWS) and point["key"] == str(ROWS)
    assert f"  fill: {ROWS:,} rows walked, {ROWS:,} written, in 10 batches" in result.out


def test_follow_walks_the_rows_added_until_none_is_left(
    migrator: Any, write_plan: Any, sql: Any, growing: None
) -> None:
    plan = write_plan(live_plan(COPY, extra="          follow: true\n"))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 0, result.out
    assert sql("select count(*), max(id) from dst") == [(3 * ROWS, 3 * ROWS)]
    assert sql("select count(*) from src") == [(3 * ROWS,)]  # the inserter stopped
    assert "end" not in sql("select position from migrator.checkpoints")[0][0]
    assert memo_of(sql)["rows_walked"] == 3 * ROWS


def test_a_resumed_backfill_ends_where_its_first_run_would_have(
    database: str, migrator: Any, write_plan: Any, sql: Any, growing: None
) -> None:
    plan = write_plan(live_plan(COPY, extra="          throttle: 50ms\n"))
    proc = spawn("apply", plan, "--to", "b", "--dsn", database)
    try:
        wait_for(has_checkpoint(sql, 3), proc=proc)
    finally:
        sigkill(proc)
    sql(f"insert into src select g, 'late' from generate_series({5 * ROWS}, {5 * ROWS + 9}) g")
    result = migrator("resume", plan)
    assert result.code == 0, result.out
    assert sql("select count(*), max(id) from dst") == [(ROWS, ROWS)]
    memo = memo_of(sql)
    assert (memo["rows_walked"], memo["rows_written"]) == (ROWS, ROWS)


def test_an_old_checkpoint_without_an_end_ends_at_the_largest_key_at_the_resume(
    database: str, migrator: Any, write_plan: Any, sql: Any, growing: None
) -> None:
    plan = write_plan(live_plan(COPY, extra="          throttle: 50ms\n"))
    proc = spawn("apply", plan, "--to", "b", "--dsn", database)
    try:
        wait_for(has_checkpoint(sql, 3), proc=proc)
    finally:
        sigkill(proc)
    sql("update migrator.checkpoints set position = position - 'end'")  # as earlier versions
    largest = sql("select max(id) from src")[0][0]
    result = migrator("resume", plan)
    assert result.code == 0, result.out
    assert sql("select max(id) from dst") == [(largest,)]


@pytest.mark.parametrize(
    ("statement", "prepare", "written"),
    [
        # a third of the rows are there already: the insert skips them
        (COPY, f"insert into dst select g, 'old' from generate_series(3, {ROWS}, 3) g", 667),
        # only every fourth row changes
        (
            "update src set v = 'changed' where id > :lo and id <= :hi and id % 4 = 0",
            "select 1",
            ROWS // 4,
        ),
        # half the rows of dst go
        (
            "delete from dst where id > :lo and id <= :hi and id % 2 = 0",
            f"insert into dst select g, 'old' from generate_series(1, {ROWS}) g",
            ROWS // 2,
        ),
    ],
    ids=["insert-on-conflict", "update", "delete"],
)
def test_rows_written_are_counted_apart_from_rows_walked(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    source: None,
    statement: str,
    prepare: str,
    written: int,
) -> None:
    sql(prepare)
    result = migrator("apply", write_plan(live_plan(statement)), "--to", "b")
    assert result.code == 0, result.out
    memo = memo_of(sql)
    assert (memo["rows_walked"], memo["rows_written"]) == (ROWS, written)
    assert f"{ROWS:,} rows walked, {written:,} written, in 10 batches" in result.out
    assert sql("select position->'written' from migrator.checkpoints") == [(written,)]


def test_rows_written_survive_a_resume(
    database: str, migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    update = "update src set v = 'changed' where id > :lo and id <= :hi and id % 4 = 0"
    plan = write_plan(live_plan(update, extra="          throttle: 50ms\n"))
    proc = spawn("apply", plan, "--to", "b", "--dsn", database)
    try:
        wait_for(has_checkpoint(sql, 3), proc=proc)
    finally:
        sigkill(proc)
    before = sql("select position->'written' from migrator.checkpoints")[0][0]
    assert before and 0 < before < ROWS // 4
    result = migrator("resume", plan)
    assert result.code == 0, result.out
    assert f"{before:,} written)" in result.out  # the resume says how far it got
    assert memo_of(sql)["rows_written"] == ROWS // 4


UPDATE = "update src set v = 'seen' where id > :lo and id <= :hi"
LOCKED = 150  # a row of the second batch


class Blocker:
    """A support tool's session holding a row lock of the walk (`select ... for update`)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, application_name="support-tool")
        self.conn.execute("select * from src where id = %s for update", (LOCKED,))
        self.pid = self.conn.info.backend_pid

    def leave(self) -> None:
        self.conn.rollback()
        self.conn.close()


def lock_plan(retries: str = "", lock_timeout: str = "200ms") -> str:
    step = f"        lock_timeout: {lock_timeout}\n{retries}"
    return live_plan(UPDATE, step=step, rollback="update src set v = null where v = 'seen'")


def retry_events(sql: Any) -> list[dict[str, Any]]:
    rows = sql(
        "select detail from migrator.events where kind = 'step' and status = 'retry' order by id"
    )
    return [dict(r[0]) for r in rows]


@pytest.mark.parametrize(
    ("lock_timeout", "pauses"),
    [("200ms", [0.5, 1.0, 2.0]), ("700ms", [0.7, 1.4, 2.8])],
)
def test_a_batch_behind_a_row_lock_names_the_blocker_is_retried_then_fails_and_is_undone(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    source: None,
    database: str,
    lock_timeout: str,
    pauses: list[float],
) -> None:
    """A retry pauses at least as long as the batch waited, doubling (`lock_pause`)."""
    blocker = Blocker(database)
    try:
        result = migrator("apply", write_plan(lock_plan(lock_timeout=lock_timeout)), "--to", "b")
    finally:
        blocker.leave()
    assert result.code == 1, result.out  # failed, and undone (SPEC "Exit codes")
    assert f"blocked by pid {blocker.pid} (support-tool, " in result.out
    retries = retry_events(sql)
    assert len(retries) == 3  # the step's lock_retries: max(retries, 3)
    for n, event in enumerate(retries, 1):
        assert event["part"] == "batch after key 100" and event["attempt"] == n
        assert [(b["pid"], b["application"]) for b in event["blockers"]] == [
            (blocker.pid, "support-tool")
        ]
    assert [event["pause"] for event in retries] == pytest.approx(pauses)  # lock_pause
    failed = sql("select detail->>'error' from migrator.events where status = 'failed'")
    assert failed and f"pid {blocker.pid}" in str(failed[0][0]), failed
    # the first batch committed, then the run was undone: nothing of it is left
    assert sql("select count(*) from src where v = 'seen'") == [(0,)], result.out
    assert sql("select status from migrator.events where kind = 'undo'") == [("done",)]


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_batch_behind_a_row_lock_goes_on_once_the_blocker_leaves(
    database: str, write_plan: Any, sql: Any, source: None, parallel: int
) -> None:
    """With streams, the retry is heard by the coordinator (the step's own thread), which
    records it: the other stream goes on meanwhile."""
    blocker = Blocker(database)
    plan = lock_plan().replace(
        "          batch_size:", f"          parallel: {parallel}\n          batch_size:"
    )
    proc = spawn("apply", write_plan(plan), "--to", "b", "--dsn", database)
    try:
        wait_for(lambda: has_events(sql) and bool(retry_events(sql)), proc=proc, timeout=60)
    finally:
        blocker.leave()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert f"blocked by pid {blocker.pid} (support-tool, " in out
    assert sql("select count(*) from src where v = 'seen'") == [(ROWS,)]
    assert memo_of(sql)["retries"] >= 1


def has_events(sql: Any) -> bool:
    return sql("select to_regclass('migrator.events')") != [(None,)]


class TableHolder:
    """A report tool's session holding the driving table (`lock table ... access exclusive`):
    the coordinator's own reads (the walk's start, its end, the count) wait for it."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, application_name="report-tool")
        self.conn.execute("lock table src in access exclusive mode")
        self.pid = self.conn.info.backend_pid

    def leave(self) -> None:
        self.conn.rollback()
        self.conn.close()


def test_the_coordinator_behind_a_table_lock_names_the_holder_and_goes_on_once_it_leaves(
    database: str, write_plan: Any, sql: Any, source: None
) -> None:
    holder = TableHolder(database)
    proc = spawn("apply", write_plan(lock_plan()), "--to", "b", "--dsn", database)
    try:
        wait_for(lambda: has_events(sql) and bool(retry_events(sql)), proc=proc, timeout=60)
    finally:
        holder.leave()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert f"blocked by pid {holder.pid} (report-tool, " in out
    first = retry_events(sql)[0]
    assert first["part"] == "reading the walk's start" and first["attempt"] == 1, first
    assert [(b["pid"], b["application"]) for b in first["blockers"]] == [
        (holder.pid, "report-tool")
    ]
    assert sql("select count(*) from src where v = 'seen'") == [(ROWS,)]


def test_the_coordinator_behind_a_table_lock_fails_after_its_retries_naming_the_holder(
    migrator: Any, write_plan: Any, sql: Any, source: None, database: str
) -> None:
    holder = TableHolder(database)
    try:  # undone by `select 1`: the undo needs no lock of src
        result = migrator(
            "apply",
            write_plan(live_plan(UPDATE, step="        lock_timeout: 200ms\n")),
            "--to",
            "b",
        )
    finally:
        holder.leave()
    assert result.code == 1, result.out  # failed, and undone (SPEC "Exit codes")
    assert f"blocked by pid {holder.pid} (report-tool, " in result.out
    retries = retry_events(sql)
    assert [(e["part"], e["attempt"], e["pause"]) for e in retries] == [
        ("reading the walk's start", 1, 0.5),
        ("reading the walk's start", 2, 1.0),
        ("reading the walk's start", 3, 2.0),
    ]
    failed = sql("select detail from migrator.events where kind = 'step' and status = 'failed'")[0][
        0
    ]
    assert failed["attempts"] == 1  # retried by the backfill, not again by the engine
    assert f"pid {holder.pid} (report-tool" in failed["error"], failed
    assert [b["pid"] for b in failed["blockers"]] == [holder.pid]
    assert sql("select status from migrator.events where kind = 'undo'") == [("done",)]


def test_the_dry_run_behind_a_table_lock_says_the_preview_waited_naming_the_holder(
    database: str, migrator: Any, write_plan: Any, source: None
) -> None:
    holder = TableHolder(database)
    try:  # in-process: without a lock_timeout on its preview, this call would never return
        result = migrator("plan", write_plan(lock_plan()), "--to", "b")
    finally:
        holder.leave()
    assert result.code == 0, result.out
    assert "(no preview: canceling statement due to lock timeout" in result.out, result.out
    assert f"blocked by pid {holder.pid} (report-tool, " in result.out
    assert "step fill (backfill):" in result.out  # the rest of the dry run is there
