"""The `wait` action: it lets its duration pass with no transaction open, says what it
waits for, ends at once on a first SIGINT or SIGTERM (the run left interrupted, exit 130
or 143), and `migrator resume` waits again in full. Bad durations are refused at
validate with FILE:LINE:COL; the dry run and the runbook show it; a rehearsal lets no
time pass; its undo does nothing, and a reversible plan needs no rollback for it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from migrator.plan import load_plan, load_plan_text
from migrator.plugin import StepContext, StopRequested
from tests import plans
from tests.processes import sigkill, spawn, wait_for
from tests.rehearsing import fitting_pg_dump
from tests.signals import SIGNALS, finish, interrupted_event, run_status

SETTLE = "let the app see it"
LONG = plans.hotfix(
    "settle",
    [
        plans.traced("one"),
        f"name: {SETTLE}\ndescription: the app reads its flags every minute\nwait: 1h",
        plans.traced("two"),
    ],
)


@pytest.fixture
def traced(sql: Any) -> None:
    """Tables `ran` and `undone`, for plans of traced steps (tests/plans.py)."""
    sql(plans.TRACE_TABLES)


def _started(sql: Any, step: str, times: int) -> Any:
    """Whether step `step` has started `times` times (in any run)."""

    def check() -> bool:
        if sql("select to_regclass('migrator.events')") == [(None,)]:
            return False
        rows = sql(
            "select count(*) from migrator.events where kind = 'step' and status = 'started' "
            "and step = %s",
            step,
        )
        return int(rows[0][0]) >= times

    return check


def _idle(sql: Any, pid: int) -> Any:
    """Whether process `pid` has sessions, and none of them is in a transaction."""
    name = f"migrator {pid}@%"

    def check() -> bool:
        rows = sql(
            "select count(*), count(xact_start) from pg_stat_activity "
            "where application_name like %s",
            name,
        )
        sessions, in_transaction = rows[0]
        return int(sessions) > 0 and int(in_transaction) == 0

    return check


def _stopped_while_waiting(
    sql: Any, argv: list[str | Path], database: str, signum: int, times: int = 1
) -> tuple[int, str, str]:
    """Run `migrator ARGV` until the wait step has started `times` times and the process
    holds no transaction open; send `signum`; how it ended (exit code, stdout, stderr)."""
    proc = spawn(*argv, "--dsn", database)
    try:
        wait_for(_started(sql, SETTLE, times), proc=proc)
        wait_for(_idle(sql, proc.pid), proc=proc)  # it waits, and holds nothing open
        os.kill(proc.pid, signum)
        return finish(proc, [])  # promptly: a wait of an hour is cut short
    except subprocess.TimeoutExpired:
        raise AssertionError("the wait did not end at the signal") from None
    finally:
        if proc.poll() is None:
            sigkill(proc)


# -- a wait that runs to its end ------------------------------------------------------------


def test_a_short_wait_waits_says_so_and_is_recorded_done(
    migrator: Any, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(
        plans.hotfix(
            "settle", [plans.traced("one"), "name: settle\nwait: 300ms", plans.traced("two")]
        )
    )
    result = migrator("apply", plan)
    assert result.code == 0, result.out + result.err
    assert "waiting 300ms (step settle)" in result.out
    assert sql("select step from ran order by at") == [("one",), ("two",)]
    ((memo, seconds, describe),) = sql(
        "select detail->'memo', (detail->>'seconds')::float, detail->>'describe' "
        "from migrator.events where step = 'settle' and kind = 'step' and status = 'done'"
    )
    assert memo == {"waited": 0.3}
    assert seconds >= 0.3  # a lower bound the clock cannot break: it did wait
    assert describe == "wait 300ms"
    # Its undo takes nothing back: the rollback undoes the two steps around it, quickly.
    undone = migrator("rollback", plan)
    assert undone.code == 0, undone.out + undone.err
    assert sql("select step from undone order by at") == [("two",), ("one",)]
    assert sql(
        "select detail->'memo' from migrator.events where run_id = 2 and status = 'done' "
        "and step = 'undo settle'"
    ) == [(None,)]


def test_a_long_wait_says_now_and_then_how_much_is_left(
    registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cadence of those lines shortened (a minute at least, else), the wait itself real.
    import migrator_wait.wait as wait

    monkeypatch.setattr(wait, "TELL_EVERY", 0.1)
    plan = load_plan_text(plans.hotfix("settle", ["name: settle\nwait: 500ms"]), "p.yaml", registry)
    said: list[str] = []
    ctx = StepContext(connection=None, variables={}, plan="settle", operator="t", step="settle")
    ctx.say = said.append
    memo = wait.run(ctx, plan.transitions[0].steps[0])
    assert memo == {"waited": 0.5}
    assert said[0] == "  waiting 500ms (step settle)"
    assert len(said) >= 2, said
    for line in said[1:]:
        assert re.fullmatch(r"  still waiting: 0\.\ds left of 500ms \(step settle\)", line), said


def test_a_stop_asked_before_the_wait_ends_it_before_any_time_passes(registry: Any) -> None:
    import migrator_wait.wait as wait

    plan = load_plan_text(plans.hotfix("settle", ["name: settle\nwait: 6h"]), "p.yaml", registry)
    ctx = StepContext(connection=None, variables={}, plan="settle", operator="t", step="settle")
    ctx.stop_requested = lambda: True
    with pytest.raises(StopRequested, match=r"stopped while step settle waited: 0\.\ds of 6h"):
        wait.run(ctx, plan.transitions[0].steps[0])


def test_a_wait_in_a_rollback_waits_on_the_way_back(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan(
        plans.hotfix(
            "side",
            [
                "name: a table\nsql: create table side (id int)\n"
                "rollback: [{sql: drop table side}, {wait: 200ms}]"
            ],
        )
    )
    assert migrator("apply", plan).code == 0
    undone = migrator("rollback", plan)
    assert undone.code == 0, undone.out + undone.err
    assert "  waiting 200ms (step undo a table)\n" in undone.out
    assert sql("select to_regclass('side')") == [(None,)]
    ((seconds,),) = sql(
        "select (detail->>'seconds')::float from migrator.events "
        "where run_id = 2 and step = 'undo a table' and status = 'done'"
    )
    assert seconds >= 0.2


# -- a signal during a wait ---------------------------------------------------------------


@pytest.mark.parametrize(("signum", "code"), SIGNALS)
def test_a_signal_ends_a_long_wait_at_once_and_leaves_the_run_interrupted(
    signum: int, code: int, database: str, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(LONG)
    exit_code, out, err = _stopped_while_waiting(sql, ["apply", plan], database, signum)
    assert exit_code == code, out + err
    assert f"waiting 1h (step {SETTLE}): the app reads its flags every minute" in out
    assert run_status(sql) == [(1, "interrupted")]
    step, was, reason = interrupted_event(sql)
    assert (step, was) == (f"step {SETTLE}", "applying")
    assert f"stopped while step {SETTLE} waited" in str(reason)
    assert f"run 1 (apply) of plan settle is left interrupted (stopped while step {SETTLE}" in err
    assert f"`migrator resume {plan}`" in err
    assert "Traceback" not in err
    assert sql("select step from ran order by at") == [("one",)]  # step two never began


def test_resume_waits_again_in_full(
    database: str, write_plan: Any, migrator: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(LONG)
    first, out, err = _stopped_while_waiting(sql, ["apply", plan], database, signal.SIGINT)
    assert first == 130, out + err
    # The resumed run waits again, and for the whole hour (not what was left of it).
    again, out, err = _stopped_while_waiting(
        sql, ["resume", plan], database, signal.SIGTERM, times=2
    )
    assert again == 143, out + err
    assert f"waiting 1h (step {SETTLE})" in out
    assert run_status(sql) == [(1, "interrupted")]
    assert sql("select step from ran order by at") == [("one",)]
    # An operator who shortens the wait resumes the edited plan with --force: the wait
    # runs, short now, and the run goes on to its end.
    plan.write_text(plan.read_text().replace("wait: 1h", "wait: 100ms"))
    refused = migrator("resume", plan)
    assert refused.code == 2, refused.out + refused.err
    assert "changed since run 1 started" in refused.out + refused.err
    resumed = migrator("resume", plan, "--force")
    assert resumed.code == 0, resumed.out + resumed.err
    assert f"waiting 100ms (step {SETTLE})" in resumed.out
    assert sql("select step from ran order by at") == [("one",), ("two",)]
    assert run_status(sql) == [(1, "succeeded")]
    assert sql(
        "select count(*) from migrator.events where step = %s and kind = 'step' "
        "and status = 'started'",
        SETTLE,
    ) == [(3,)]


# -- validate -----------------------------------------------------------------------------

REVERSIBLE = """\
plan: rollout
phases: [off, on]
transitions:
  - name: turn_on
    from: off
    to: on
    steps:
      - {name: write new, flag: {name: WRITE_NEW, value: true}}
      - name: settle
        wait: WAIT
    post_checks:
      - name: the flag reads back
        flag_is: {name: WRITE_NEW, value: true}
        wait: {timeout: 1m, interval: 5s}
  - name: turn_off
    from: on
    to: off
    steps:
      - {flag: {name: WRITE_NEW, value: false}}
    post_checks:
      - {flag_is: {name: WRITE_NEW, value: false}}
"""
WAIT_AT = "10:15"  # line:column of the value of `wait: WAIT` above


def test_a_step_wait_and_a_check_wait_live_in_one_plan_without_an_undo_warning(
    migrator: Any, write_plan: Any, registry: Any
) -> None:
    plan = write_plan(REVERSIBLE.replace("WAIT", "30s"))
    result = migrator("validate", plan)
    assert result.code == 0, result.out + result.err
    assert "valid, 0 error(s), 0 warning(s)" in result.out  # no "cannot be undone"
    loaded = load_plan(str(plan), registry)
    (step,) = [s for s in loaded.transitions[0].steps if s.action_key == "wait"]
    assert step.wait == 30.0
    (check,) = loaded.transitions[0].post_checks
    assert (check.check_key, check.wait.timeout, check.wait.interval) == ("flag_is", 60.0, 5.0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "a duration must be greater than 0"),
        ("0s", "a duration must be greater than 0"),
        ("-5", "a duration must be greater than 0"),
        ("-5s", "'-5s' is not a duration: write 5s, 10m, 1h, 250ms or a number"),
        ("soon", "'soon' is not a duration"),
        ("true", "a duration is a number of seconds"),
        ("{seconds: 3}", "'{'seconds': 3}' is not a duration"),
        ("7h", "a wait of 7h is longer than 6h: end the transition there"),
        ("30000", "a wait of 8h 20m (a bare number is seconds) is longer than 6h"),
        ("31d", "'31d' is not a duration"),
    ],
)
def test_a_bad_duration_is_refused_at_validate_where_it_is_written(
    value: str, message: str, migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(REVERSIBLE.replace("WAIT", value))
    result = migrator("validate", plan)
    assert result.code == 2, result.out + result.err
    assert f"{plan}:{WAIT_AT}: transitions[0].steps[1].wait: {message}" in result.out + result.err


def test_a_check_with_a_steps_wait_is_told_where_each_belongs(
    migrator: Any, write_plan: Any
) -> None:
    text = REVERSIBLE.replace("WAIT", "30s").replace(
        "wait: {timeout: 1m, interval: 5s}", "wait: 45s"
    )
    result = migrator("validate", write_plan(text))
    assert result.code == 2
    assert (
        "14:15: transitions[0].post_checks[0].wait: a check's wait is {timeout, interval}: it "
        "looks again until the check passes; to let time pass between two steps, make it a "
        "step: `- wait: 45s`"
    ) in result.out + result.err


# -- what people read before a run ----------------------------------------------------------


def test_the_dry_run_and_the_runbook_show_the_wait(migrator: Any, write_plan: Any) -> None:
    plan = write_plan(REVERSIBLE.replace("WAIT", "90"))
    dry = migrator("plan", plan, "--to", "on")
    assert dry.code == 0, dry.out + dry.err
    assert "wait 1m 30s" in dry.out
    runbook = migrator("docs", plan, dsn=False)
    assert runbook.code == 0, runbook.out + runbook.err
    assert "**2. settle** (`wait`)\n\n```\nwait 1m 30s\n```" in runbook.out
    assert "Undone by: default undo of wait: Nothing to take back" in runbook.out


# -- a rehearsal --------------------------------------------------------------------------


def test_a_rehearsal_lets_no_time_pass(
    write_plan: Any, database: str, admin_dsn: str, sql: Any
) -> None:
    plan = write_plan(
        plans.hotfix(
            "settle",
            [
                "name: a table\nsql: create table side (id int)\nrollback: {sql: drop table side}",
                f"name: {SETTLE}\nwait: 6h",
            ],
            post_checks=["{query: select count(*) from side, expect: 0}"],
        )
    )
    proc = spawn(
        "rehearse", plan, "--dsn", database, "--scratch-dsn", admin_dsn,
        *fitting_pg_dump(admin_dsn), "--output", "json",
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=120)  # it would take six hours to wait
    except subprocess.TimeoutExpired:
        raise AssertionError("the rehearsal waited") from None
    finally:
        if proc.poll() is None:
            sigkill(proc)
    assert proc.returncode == 0, out + err
    document = json.loads(out)
    assert document["result"] == "clean"
    assert document["stood_in"] == [f"step '{SETTLE}' (wait 6h)"]
    assert document["not_called"] == []
    (trip,) = document["round_trips"]
    assert trip["legs"] == ["forward", "back", "forward again"]
    assert sql("select to_regclass('side')") == [(None,)]  # the target is untouched
