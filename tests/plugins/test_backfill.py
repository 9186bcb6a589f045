"""The backfill: exact after kills and lost connections, paused, throttled, previewed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.backfills import (
    assert_exact,
    batch_connection_lost,
    held_at_batch,
    held_between_looks,
)
from tests.plans import BACKFILL_ROWS, backfill_plan, phased
from tests.processes import checkpoint, has_checkpoint, sigkill, spawn, wait_for

ROWS = BACKFILL_ROWS


@pytest.fixture
def source(sql: Any) -> None:
    sql(
        "create table src (id bigint primary key, v text); "
        f"insert into src select g, md5(g::text) from generate_series(1, {ROWS}) g; "
        # no unique key on purpose: a batch that ran twice would leave duplicates
        "create table dst (id bigint, v text); "
        "create table pressure (high boolean); insert into pressure values (false)"
    )


def killed_backfill(write_plan: Any, database: str, sql: Any, after: int) -> Any:
    """A plan whose backfill was killed with SIGKILL after `after` committed batches."""
    plan = write_plan(backfill_plan(extra="          throttle: 30ms\n"))
    proc = spawn("apply", plan, "--to", "full", "--dsn", database)
    try:
        wait_for(has_checkpoint(sql, after), proc=proc)
    finally:
        sigkill(proc)
    return plan


def test_backfill_copies_every_row_once(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    result = migrator("apply", write_plan(backfill_plan()), "--to", "full")
    assert result.code == 0, result.out
    assert_exact(sql)
    memo = sql("select detail->'memo' from migrator.events where status = 'done'")[0][0]
    assert (memo["rows_walked"], memo["batches"], memo["failed_batches"]) == (ROWS, 20, 0)
    assert memo["slowest_batch_seconds"] >= memo["mean_batch_seconds"] > 0
    assert "20,000 rows walked, 20,000 written, in 20 batches, 0 failed, 0 retries" in result.out


def test_killed_backfill_resumes_exactly_where_it_stopped(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = write_plan(backfill_plan(extra="          throttle: 30ms\n"))
    proc = spawn("apply", plan, "--to", "full", "--dsn", database)
    try:
        wait_for(has_checkpoint(sql, 5), proc=proc)
    finally:
        sigkill(proc)
    rows_at_kill, _ = checkpoint(sql)
    assert 0 < rows_at_kill < ROWS
    # what was committed is exactly what the checkpoint says
    assert sql("select count(*), max(id) from dst") == [(rows_at_kill, rows_at_kill)]
    status = json.loads(migrator("status", plan, "--output", "json").out)
    assert status["open_run"]["state"] == "interrupted"
    result = migrator("resume", plan)
    assert result.code == 0, result.out
    assert f"resuming after key {rows_at_kill}" in result.out
    assert_exact(sql)
    assert checkpoint(sql) == (ROWS, 20)


def test_apply_of_the_same_transition_resumes_the_backfill(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = killed_backfill(write_plan, database, sql, after=3)
    result = migrator("apply", plan, "--to", "full")
    assert result.code == 0, result.out
    assert "resuming after key" in result.out
    assert_exact(sql)


def test_a_lost_connection_mid_batch_is_redone(
    migrator: Any, write_plan: Any, sql: Any, source: None, database: str
) -> None:
    plan = write_plan(backfill_plan(batch_size=4000))
    with batch_connection_lost(database) as terminated:
        result = migrator("apply", plan, "--to", "full")
    assert terminated, "the test never caught a batch to terminate"
    assert result.code == 0, result.out
    assert "lost connection, retrying" in result.out
    assert_exact(sql)
    memo = sql("select detail->'memo' from migrator.events where status = 'done'")[0][0]
    assert memo["retries"] >= 1


@pytest.mark.parametrize(
    ("sqlstate", "reason"), [("40P01", "deadlock"), ("40001", "serialization failure")]
)
def test_a_deadlock_or_serialization_failure_is_retried_and_the_result_is_exact(
    sqlstate: str, reason: str, migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    # The server raises the error with its real SQLSTATE on the second batch's first
    # attempt (a sequence counts attempts: it is not rolled back with the batch).
    sql(
        "create sequence attempts; "
        "create function give_way(lo bigint) returns boolean language plpgsql as $$ begin "
        "if lo = 1000 and nextval('attempts') = 1 then "
        f"raise exception 'as if: {reason}' using errcode = '{sqlstate}'; end if; "
        "return true; end $$"
    )
    flaky = (
        "insert into dst select id, v from src "
        "where id > :lo and id <= :hi and (select give_way(cast(:lo as bigint)))"
    )
    result = migrator("apply", write_plan(backfill_plan(statement=flaky)), "--to", "full")
    assert result.code == 0, result.out
    assert f"batch after key 1000: {reason}, retrying" in result.out
    assert "20,000 rows walked, 20,000 written, in 20 batches, 0 failed, 1 retry" in result.out
    assert_exact(sql)
    assert sql("select last_value from attempts") == [(2,)]  # failed once, then committed


def test_pause_and_continue_a_running_backfill(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = write_plan(backfill_plan(extra="          throttle: 30ms\n"))
    proc = spawn("apply", plan, "--to", "full", "--dsn", database)
    try:
        with held_at_batch(database, 3, proc):  # two batches done; it cannot finish meanwhile
            assert migrator("pause", plan).code == 0
        # the batch in flight commits; then, at each look at its controls, nothing moved
        held = held_between_looks(database, lambda: checkpoint(sql), proc=proc)
        assert checkpoint(sql) == held  # nothing moved while paused
        status = json.loads(migrator("status", plan, "--output", "json").out)
        assert status["paused"] is True
        assert status["open_run"]["state"] == "paused"  # live, and held by the pause
        assert status["open_run"]["backfill"]["paused"]["by"]
        assert migrator("continue", plan).code == 0
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert_exact(sql)


def test_throttle_query_holds_progress_until_it_turns_false(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    sql("update pressure set high = true")
    plan = write_plan(backfill_plan(extra="          throttle_query: select high from pressure\n"))
    proc = spawn("apply", plan, "--to", "full", "--dsn", database)
    try:
        wait_for(
            lambda: (
                sql("select to_regclass('migrator.runs') is not null") == [(True,)]
                and sql("select count(*) from migrator.runs") == [(1,)]
            )
        )
        # at each look at its controls and its throttle query, nothing was copied
        held_between_looks(database, lambda: sql("select count(*) from dst"), proc=proc)
        assert sql("select count(*) from dst") == [(0,)]
        sql("update pressure set high = false")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert "the throttle query holds" in out
    assert_exact(sql)


def test_a_changed_statement_is_refused_without_force(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = killed_backfill(write_plan, database, sql, after=2)
    rows_at_kill, _ = checkpoint(sql)
    plan.write_text(
        plan.read_text().replace("select id, v from src", "select id, upper(v) from src")
    )
    refused = migrator("resume", plan)
    assert refused.code == 2
    assert "changed since run" in refused.err
    assert checkpoint(sql)[0] == rows_at_kill  # nothing ran
    refused = migrator("resume", plan, "--batch-size", "700")
    assert refused.code == 2
    assert sql("select count(*) from migrator.controls") == [(0,)]  # nothing kept either
    assert migrator("resume", plan, "--force").code == 0
    assert sql("select count(*) from dst where v = upper(v)") == [(ROWS - rows_at_kill,)]


def test_resume_with_another_batch_size(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = killed_backfill(write_plan, database, sql, after=2)
    rows_before, batches_before = checkpoint(sql)
    assert migrator("resume", plan, "--batch-size", "5000").code == 0
    assert_exact(sql)
    _, batches = checkpoint(sql)
    assert batches - batches_before == -(-(ROWS - rows_before) // 5000)


def test_the_batch_size_given_to_resume_stays_with_the_resumed_run(
    write_plan: Any, database: str, migrator: Any, sql: Any, source: None
) -> None:
    plan = killed_backfill(write_plan, database, sql, after=2)
    assert migrator("resume", plan, "--batch-size", "700").code == 0
    assert migrator("rollback", plan).code == 0
    assert sql("select count(*) from dst") == [(0,)]
    # a later run of the same backfill walks in the plan's own batches again
    result = migrator("apply", plan, "--to", "full")
    assert result.code == 0, result.out
    assert "20,000 rows walked, 20,000 written, in 20 batches" in result.out
    assert_exact(sql)


def test_a_batch_size_given_with_nothing_to_resume_is_not_kept(
    write_plan: Any, migrator: Any, sql: Any, source: None
) -> None:
    plan = write_plan(backfill_plan())
    result = migrator("resume", plan, "--batch-size", "700")
    assert result.code == 0
    assert "nothing to resume" in result.out
    result = migrator("apply", plan, "--to", "full")
    assert result.code == 0, result.out
    assert "20,000 rows walked, 20,000 written, in 20 batches" in result.out


def test_a_failing_batch_undoes_the_whole_backfill(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    failing = (
        "insert into dst select id, (1 / (id - 12345))::text from src where id > :lo and id <= :hi"
    )
    result = migrator("apply", write_plan(backfill_plan(statement=failing)), "--to", "full")
    assert result.code == 1
    assert "division by zero" in result.out
    # How far it got: the twelve batches before key 12,345, and the one it gave up on.
    assert (
        "\n  copy stopped: 12,000 rows walked, 12,000 written, in 12 batches, 1 failed, "
        "0 retries" in result.out
    )
    assert sql("select count(*) from dst") == [(0,)]  # its rollback emptied the target
    undo = sql("select status from migrator.events where kind = 'undo'")
    assert undo == [("done",)]


def test_where_filters_the_driving_rows(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    plan = backfill_plan(extra="          where: id % 2 = 0\n").replace(
        f"expect: {ROWS}", f"expect: {ROWS // 2}"
    )
    plan = plan.replace(
        "where id > :lo and id <= :hi", "where id > :lo and id <= :hi and id % 2 = 0"
    )
    result = migrator("apply", write_plan(plan), "--to", "full")
    assert result.code == 0, result.out
    memo = sql("select detail->'memo' from migrator.events where status = 'done'")[0][0]
    assert (memo["rows_walked"], memo["batches"]) == (ROWS // 2, 10)


def test_uuid_and_text_keys(migrator: Any, write_plan: Any, sql: Any) -> None:
    sql(
        "create table people (id uuid primary key default gen_random_uuid(), name text unique); "
        "insert into people (name) select 'p' || g from generate_series(1, 2500) g; "
        "create table copy_u (id uuid primary key); create table copy_t (name text primary key)"
    )
    plan = write_plan(
        phased(
            "keys",
            [
                "backfill:\n"
                "  table: people\n"
                "  key: id\n"
                "  batch_size: 1000\n"
                "  statement: >\n"
                "    insert into copy_u select id from people where id > :lo and id <= :hi\n"
                "    on conflict do nothing",
                "backfill:\n"
                "  table: public.people\n"
                "  key: name\n"
                "  batch_size: 700\n"
                "  statement: >\n"
                "    insert into copy_t select name from people where name > :lo and name <= :hi\n"
                "    on conflict do nothing",
            ],
        )
    )
    assert migrator("apply", plan, "--to", "b").code == 0
    assert sql("select count(*) from copy_u") == [(2500,)]
    assert sql("select count(*) from copy_t") == [(2500,)]


def test_dry_run_shows_rows_batches_and_the_first_bounds(
    migrator: Any, write_plan: Any, sql: Any, source: None
) -> None:
    result = migrator("plan", write_plan(backfill_plan(batch_size=3000)), "--to", "full")
    assert result.code == 0
    assert f"{ROWS:,} rows in 7 batches of 3,000" in result.out
    assert "first batch: :lo = '0' (exclusive), :hi = '3000' (inclusive), 3000 rows" in result.out
    assert sql("select count(*) from dst") == [(0,)]


def test_validate_warns_about_an_insert_without_on_conflict(
    migrator: Any, write_plan: Any, source: None
) -> None:
    result = migrator("validate", write_plan(backfill_plan()))
    assert result.code == 0
    assert "warning: the statement inserts without ON CONFLICT" in result.out
    quiet = backfill_plan(
        statement="insert into dst select id, v from src where id > :lo and id <= :hi "
        "on conflict do nothing"
    )
    assert "ON CONFLICT" not in migrator("validate", write_plan(quiet, "quiet.yaml")).out


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("statement", "delete from dst where id > :lo and id <= :hi; select 1"),
        ("where", "id > 0; select 1"),
        ("throttle_query", "select false; select true"),
    ],
)
def test_two_statements_where_the_backfill_runs_one_are_refused_at_validate(
    migrator: Any, write_plan: Any, key: str, value: str
) -> None:
    """Apply would refuse them (or fail unpacking them) after the plan began: validate
    says so first, with exit 2."""
    plan = (
        backfill_plan(statement=value)
        if key == "statement"
        else backfill_plan(extra=f'          {key}: "{value}"\n')
    )
    result = migrator("validate", write_plan(plan))
    assert result.code == 2, result.out + result.err
    assert "must be one" in result.out + result.err
    assert f"backfill.{key}" in result.out + result.err


def test_an_unknown_key_column_fails_clearly(migrator: Any, write_plan: Any, source: None) -> None:
    result = migrator(
        "apply", write_plan(backfill_plan().replace("key: id", "key: idd")), "--to", "full"
    )
    assert result.code == 1
    assert "table src has no column idd" in result.out
