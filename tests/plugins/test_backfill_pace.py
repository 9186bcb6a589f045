"""`batch_time`: the batch size controller, fed synthetic timings (no clock), and on a real
table whose statement costs time per row."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from migrator_backfill.pace import FIRST_SIZE, MAX_GROWTH, Pace
from tests.plans import live_plan
from tests.processes import has_checkpoint, sigkill, spawn, wait_for


def run(pace: Pace, per_row: float, batches: int, ceiling: int, overhead: float = 0.0) -> list[int]:
    """The sizes `pace` asks for, batch after batch, when a row costs `per_row` seconds."""
    sizes = []
    for _ in range(batches):
        size = pace.next(ceiling)
        sizes.append(size)
        pace.observe(size, size, overhead + size * per_row, ceiling)
    return sizes


def test_it_starts_small_and_grows_by_bounded_steps_to_the_target() -> None:
    sizes = run(Pace(0.25), per_row=0.001, batches=12, ceiling=5000)  # 250 rows take 0.25s
    assert sizes[0] == FIRST_SIZE
    assert all(b <= a * MAX_GROWTH for a, b in itertools.pairwise(sizes))
    assert sizes[:3] == [10, 80, 250]  # 8 times larger while far too quick, then the rate's
    assert 250 * 0.85 <= sizes[-1] <= 250 * 1.15  # settled within the dead band
    assert len(set(sizes[-4:])) == 1  # and stays there: no jitter


def test_slow_rows_shrink_the_batch_down_to_one_row_at_least() -> None:
    pace = Pace(0.25, size=1000)
    sizes = run(pace, per_row=0.01, batches=6, ceiling=5000)  # 25 rows take 0.25s
    assert sizes[:4] == [1000, 250, 62, 25]  # never more than MAX_SHRINK times at once
    assert run(Pace(0.25, size=4), per_row=2.0, batches=4, ceiling=5000) == [4, 1, 1, 1]


def test_the_ceiling_bounds_it_and_a_lower_one_takes_effect_at_once() -> None:
    pace = Pace(0.25)
    assert max(run(pace, per_row=0.00001, batches=20, ceiling=300)) == 300
    assert pace.next(50) == 50  # the operator's live batch size: the ceiling from now on
    assert pace.size == 50


def test_a_quick_batch_cut_short_says_nothing_about_a_larger_one() -> None:
    pace = Pace(0.25, size=400)
    assert pace.observe(asked=400, rows=3, seconds=0.01, ceiling=5000) == 400  # the tail
    assert pace.observe(asked=400, rows=3, seconds=1.0, ceiling=5000) == 100  # slow: shrink


def test_a_batch_too_quick_to_time_grows_by_the_largest_step() -> None:
    pace = Pace(0.25, size=100)
    assert pace.observe(asked=100, rows=100, seconds=0.0, ceiling=5000) == 800


def test_one_odd_batch_moves_the_size_by_a_bounded_step_only() -> None:
    pace = Pace(0.25, size=1000)
    assert pace.observe(asked=1000, rows=1000, seconds=30.0, ceiling=5000) == 250


@pytest.fixture
def costly(sql: Any) -> None:
    sql(
        "create table src (id bigint primary key, v text); "
        "insert into src select g, null from generate_series(1, 400) g"
    )


def test_batch_time_moves_the_batch_sizes_toward_the_target(
    migrator: Any, write_plan: Any, sql: Any, costly: None
) -> None:
    """Each row costs 5 ms at least (pg_sleep in the statement): a 200 ms batch holds 40
    rows at most. The sizes start at FIRST_SIZE, grow while too quick, and never pass
    8 times that (a step from a size the timings allowed): asserted on the sizes the
    batches had (a trigger records them), relative to each other, never on the clock."""

    statement = "update src set v = 'x' || pg_sleep(0.005)::text where id > :lo and id <= :hi"
    plan = live_plan(statement, extra="          batch_time: 200ms\n", batch_size=1000)
    sql("create table sizes (n int generated always as identity, size int)")
    sql(
        "create function record_size() returns trigger language plpgsql as $$ begin "
        "insert into sizes (size) select count(*) from changed; return null; end $$; "
        "create trigger record after update on src referencing new table as changed "
        "for each statement execute function record_size()"
    )
    result = migrator("apply", write_plan(plan), "--to", "b")
    assert result.code == 0, result.out
    sizes = [r[0] for r in sql("select size from sizes order by n")]
    assert sum(sizes) == 400 and sql("select count(*) from src where v is null") == [(0,)]
    assert sizes[0] == FIRST_SIZE  # small first: its cost per row was not known yet
    assert max(sizes) <= MAX_GROWTH * 40  # never the step's batch_size: the target holds it
    later = sizes[len(sizes) // 2 : -1]  # the last batch is what is left
    assert later and min(later) > FIRST_SIZE, sizes  # it grew toward the target and stayed
    memo = sql(
        "select detail->'memo' from migrator.events where kind = 'step' and status = 'done'"
    )[0][0]
    largest = memo["largest_batch"]  # the sizes asked for (the last batch got fewer rows)
    assert memo["smallest_batch"] == FIRST_SIZE and max(sizes) <= largest <= MAX_GROWTH * 40
    assert f"batches of {FIRST_SIZE} to {largest} rows" in result.out


def test_the_operators_batch_size_is_the_ceiling_of_batch_time(
    database: str, migrator: Any, write_plan: Any, sql: Any, costly: None
) -> None:
    """Quick rows: batch_time alone would grow the batches to batch_size; a resume with
    --batch-size 15 (the live batch size) holds them at 15."""

    statement = "update src set v = 'x' where id > :lo and id <= :hi"
    extra = "          batch_time: 5s\n          throttle: 50ms\n"
    plan = write_plan(live_plan(statement, extra=extra, batch_size=1000))
    proc = spawn("apply", plan, "--to", "b", "--dsn", database)
    try:
        wait_for(has_checkpoint(sql, 2), proc=proc)
    finally:
        sigkill(proc)
    result = migrator("resume", plan, "--batch-size", "15")
    assert result.code == 0, result.out
    memo = sql(
        "select detail->'memo' from migrator.events where kind = 'step' and status = 'done'"
    )[0][0]
    assert memo["largest_batch"] == 15  # grown to the ceiling, and no further
    assert sql("select count(*) from src where v is null") == [(0,)]


def test_batch_time_with_parallel_streams(
    migrator: Any, write_plan: Any, sql: Any, costly: None
) -> None:

    statement = "update src set v = 'x' || pg_sleep(0.005)::text where id > :lo and id <= :hi"
    extra = "          batch_time: 100ms\n          parallel: 2\n"
    result = migrator("apply", write_plan(live_plan(statement, extra=extra)), "--to", "b")
    assert result.code == 0, result.out
    memo = sql(
        "select detail->'memo' from migrator.events where kind = 'step' and status = 'done'"
    )[0][0]
    assert memo["smallest_batch"] == FIRST_SIZE and memo["largest_batch"] <= MAX_GROWTH * 20
    assert memo["rows_walked"] == memo["rows_written"] == 400


def test_timings_near_the_target_keep_the_size() -> None:
    """A batch 10% slower or quicker than the target is as good as on it: no jitter."""
    pace = Pace(0.25, size=250)
    sizes = []
    for seconds in (0.275, 0.225, 0.27, 0.23, 0.26):
        sizes.append(pace.observe(250, 250, seconds, ceiling=5000))
    assert sizes == [250] * 5


def test_the_dry_run_shows_the_small_first_batch_of_batch_time(
    migrator: Any, write_plan: Any, costly: None
) -> None:
    statement = "update src set v = 'x' where id > :lo and id <= :hi"
    plan = write_plan(live_plan(statement, extra="          batch_time: 250ms\n", batch_size=1000))
    result = migrator("plan", plan, "--to", "b")
    assert result.code == 0, result.out
    assert f"first batch: :lo = '0' (exclusive), :hi = '{FIRST_SIZE}' (inclusive)" in result.out
    assert "batch sizes adapt between 1 and 1,000 so that a batch takes about 0.25s" in result.out
