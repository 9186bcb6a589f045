"""A closed stdout (`migrator history | head -1`, `apply ... | head -1`) is not a failure:
a reading command stops quietly (exit 0), and a run goes on to its end, its output dropped
(README.md, "Exit codes"). Each process here gets a pipe whose reading end is closed before
it starts, so its first write meets a closed pipe: no race with what `head` read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.plans import FOUR_STEPS, TRACE_TABLES, phased, traced


def _closed_stdout(dsn: str, *args: str | Path) -> tuple[int, str]:
    """Run the CLI with stdout a pipe nobody reads any more; its exit code and stderr."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "migrator", *map(str, args)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "MIGRATOR_DSN": dsn},
            check=False,
        )
    finally:
        os.close(write)
    return done.returncode, done.stderr


def test_apply_into_a_closed_pipe_runs_to_its_end_and_exits_0(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql(TRACE_TABLES)
    plan = write_plan(FOUR_STEPS)

    code, err = _closed_stdout(database, "apply", plan, "--to", "b", "--yes")

    assert (code, err) == (0, "")
    assert sql("select count(*) from ran") == [(4,)]  # every step ran, none was undone
    assert sql("select count(*) from undone") == [(0,)]
    assert sql("select status from migrator.runs") == [("succeeded",)]


def test_history_into_a_closed_pipe_exits_0_without_a_word(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql(TRACE_TABLES)
    plan = write_plan(FOUR_STEPS)
    assert _closed_stdout(database, "apply", plan, "--to", "b", "--yes")[0] == 0

    for command in (["history", plan], ["status", plan], ["status", plan, "--watch"]):
        assert _closed_stdout(database, *command) == (0, ""), command


def test_watching_a_run_at_work_into_a_closed_pipe_stops_and_the_run_goes_on(
    write_plan: Any, database: str, sql: Any
) -> None:
    import psycopg

    from tests.processes import spawn, step_started, wait_for

    sql(TRACE_TABLES)
    held = phased(
        "held",
        [traced("one"), traced("wait", sql='"select pg_advisory_xact_lock(4242)"')],
        post_checks=["{query: select count(*) from ran, expect: 1}"],
    )
    plan = write_plan(held)
    with psycopg.connect(database, autocommit=True) as gate:
        gate.execute("select pg_advisory_lock(4242)")  # the step waits for it
        run = spawn("apply", plan, "--to", "b", "--yes", env={"MIGRATOR_DSN": database})
        try:
            wait_for(step_started(sql, "wait"), proc=run)

            # at work: --watch would go on while the run does; its reader is gone
            assert _closed_stdout(database, "status", plan, "--watch") == (0, "")
            assert run.poll() is None
        finally:
            gate.execute("select pg_advisory_unlock(4242)")
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    assert sql("select status from migrator.runs") == [("succeeded",)]
