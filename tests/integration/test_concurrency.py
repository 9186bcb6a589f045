"""Many operators at once: one plan's lock admits exactly one run; two plans run side by side.

Every `migrator` here is a real process, as operators start them. Nothing depends on how
fast a busy two-core machine starts twenty Python processes: the run that gets the lock
waits at a gate (an advisory lock the test holds) until every other process has tried
and given up, and two plans each wait, inside a step, until the other is inside one too.
"""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg

from tests.plans import phased
from tests.processes import spawn, wait_for

CONTENDERS = 20
GATE = 7_340_033  # the advisory lock key the winner's step waits for

GATED = phased(
    "gated",
    [
        "name: wait at the gate\nsql: select pg_advisory_xact_lock(:gate)\nlock_timeout: 10m",
        "name: record\nsql: insert into ran (plan) values ('gated')",
    ],
    post_checks=['{query: "select count(*) from ran", expect: 1}'],
    variables="{gate: 0}",
)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_of_twenty_concurrent_applies_exactly_one_runs(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql("create table ran (plan text, at timestamptz default clock_timestamp())")
    plan = write_plan(GATED)
    with psycopg.connect(database, autocommit=True) as gate:
        gate.execute("select pg_advisory_lock(%s)", (GATE,))
        argv = ["apply", plan, "--to", "b", "--dsn", database, "--var", f"gate={GATE}"]
        procs = [spawn(*argv, "--operator", f"operator-{i}") for i in range(CONTENDERS)]
        winner: subprocess.Popen[str] | None = None
        try:
            # Everyone but the winner tries the lock and gives up, while the winner waits
            # at the gate holding it: generous, for a busy machine starting 20 processes.
            wait_for(lambda: sum(p.poll() is not None for p in procs) >= CONTENDERS - 1, 300)
            (winner,) = [p for p in procs if p.poll() is None]
            losers = [finish(p) for p in procs if p is not winner]
            waiting = sql(
                "select r.operator from migrator.runs r join migrator.events e "
                "on e.run_id = r.id where e.step = 'wait at the gate' and e.status = 'started'"
            )
        finally:
            gate.execute("select pg_advisory_unlock(%s)", (GATE,))
            for p in procs:
                if p is not winner and p.poll() is None:
                    p.kill()
                    p.wait()
        code, out, err = finish(winner)
    assert code == 0, out + err
    assert sorted(c for c, _, _ in losers) == [4] * (CONTENDERS - 1)
    for _, _, loser_err in losers:
        assert "error: plan gated is locked: held by " in loser_err, loser_err
        assert "Traceback" not in loser_err
    (operator,) = (r[0] for r in waiting)
    assert winner.args[-1] == operator  # the one waiting at the gate was the winner
    assert sql("select count(*), min(status), min(operator) from migrator.runs") == [
        (1, "succeeded", operator)
    ]
    assert sql("select count(*) from ran") == [(1,)]  # its steps ran once
    assert sql("select phase from migrator.plan_state") == [("b",)]


SIDE_BY_SIDE = """\
plan: {me}
phases: [a, b]
transitions:
  - name: go
    from: a
    to: b
    steps:
      - name: meet {other}
        # Wait, inside this step, until {other} is inside its step too (at most 60s).
        sql: |
          do $$
          begin
            for i in 1..1200 loop
              if exists (
                select 1 from migrator.events e join migrator.runs r on r.id = e.run_id
                where r.plan = '{other}' and e.step = 'meet {me}' and e.status = 'started'
              ) then
                return;
              end if;
              perform pg_sleep(0.05);
            end loop;
            raise exception '{other} never ran beside {me}';
          end $$
      - name: record
        sql: insert into ran (plan) values ('{me}')
    post_checks:
      - {{query: "select count(*) from ran where plan = '{me}'", expect: 1}}
"""


def test_two_plans_run_side_by_side_on_one_database(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql("create table ran (plan text, at timestamptz default clock_timestamp())")
    left = write_plan(SIDE_BY_SIDE.format(me="left", other="right"), "left.yaml")
    right = write_plan(SIDE_BY_SIDE.format(me="right", other="left"), "right.yaml")
    procs = [spawn("apply", p, "--to", "b", "--dsn", database) for p in (left, right)]
    try:
        results = [finish(p, timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for code, out, err in results:
        assert code == 0, out + err
    runs = sql("select plan, status, started_at, finished_at from migrator.runs order by plan")
    assert [(plan, status) for plan, status, _, _ in runs] == [
        ("left", "succeeded"),
        ("right", "succeeded"),
    ]
    (_, _, left_started, left_finished), (_, _, right_started, right_finished) = runs
    # The two runs overlapped in time: each started before the other finished.
    assert left_started < right_finished and right_started < left_finished
    assert sql("select plan, phase from migrator.plan_state order by plan") == [
        ("left", "b"),
        ("right", "b"),
    ]
    assert sorted(sql("select plan from ran")) == [("left",), ("right",)]
