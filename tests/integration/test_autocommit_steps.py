"""Work outside a transaction, as a reviewer attacked it: a lone concurrent index build
behind a blocker is tried again (the guard's own reads are no committed work); a
procedure that commits inside itself is never run twice; a step that leaves a
transaction open, or a role set, hands nothing on to the next unit; a step that sends
no statement (a wait) opens no watcher connection; a DETAIL that quotes a row cut by
the server never reaches the output or the trail."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from tests.helpers import events_of
from tests.plans import phased
from tests.processes import spawn, step_started, wait_for

LONE_CIC = (
    "name: index busy\n"
    "sql: create index concurrently busy_id on busy (id)\n"
    "autocommit: true\n"
    "lock_timeout: 200ms\n"
    "timeout: 20s"
)


def test_a_lone_concurrent_index_build_behind_a_blocker_is_tried_again_and_ends_valid(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table busy (id int)")
    plan = write_plan(phased("ddl", [LONE_CIC]))
    holder = psycopg.connect(database, application_name="reporting-job")
    holder.execute("lock table busy in share update exclusive mode")

    def leave_at_the_first_retry() -> None:
        wait_for(lambda: bool(events_of(sql, "step", "retry")), timeout=30)
        holder.close()

    leaving = threading.Thread(target=leave_at_the_first_retry)
    leaving.start()
    try:
        result = migrator("apply", plan, "--to", "b")
    finally:
        leaving.join()
        holder.close()
    assert result.code == 0, result.out + result.err
    assert events_of(sql, "step", "retry"), result.out
    assert sql("select indisvalid from pg_index where indexrelid = 'busy_id'::regclass") == [
        (True,)
    ]


def test_a_procedure_that_committed_inside_itself_is_not_run_again_after_a_lock_timeout(
    migrator: Any, sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table busy (id int); create table ran (n int)")
    sql(
        "create procedure p() language plpgsql as $$ begin insert into ran values (1); "
        "commit; alter table busy add column note text; end $$"
    )
    step = "name: proc\nsql: call p()\nautocommit: true\nlock_timeout: 200ms\ntimeout: 20s"
    plan = write_plan(phased("proc", [step]))
    with psycopg.connect(database, application_name="reporting-job") as holder:
        holder.execute("select * from busy")
        result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out + result.err  # failed (and undone: nothing to undo)
    assert sql("select count(*) from ran") == [(1,)]  # once, never again
    (failed,) = events_of(sql, "step", "failed")
    assert "CALL may have committed part of its work" in failed["error"]
    assert "reporting-job" in failed["error"]


def test_a_step_that_leaves_a_transaction_open_and_a_role_set_hands_nothing_on(
    migrator: Any, sql: Any, write_plan: Any
) -> None:
    sql(
        "create role intruder; create table seen (who text, st text); grant all on seen to intruder"
    )
    record = "insert into seen values (current_user, current_setting('statement_timeout'))"
    first = (
        'name: a\nsql: "select 1"\nautocommit: true\n'
        f'rollback: {{sql: "{record}", autocommit: true}}'
    )
    second = (
        'name: b\nsql: "set role intruder; set statement_timeout = 4321; begin; select 1 / 0"\n'
        "autocommit: true"
    )
    result = migrator("apply", write_plan(phased("leak", [first, second])), "--to", "b")
    assert result.code == 1, result.out + result.err  # b failed, a undone
    assert sql("select who, st from seen") == [("postgres", "0")]


def test_a_wait_opens_no_connection_to_watch_for_lock_waits(
    sql: Any, write_plan: Any, database: str
) -> None:
    """A watcher looks every 0.1s once a statement has run for 0.2s: its session's
    `state_change` would move. During a wait, no session of the run's moves at all."""
    plan = write_plan(phased("waits", ["name: pause\nwait: 1h"]))
    proc = spawn("apply", plan, "--to", "b", "--dsn", database)
    # the run's sessions, by the application_name it gives them: a session of this test's
    # own looks that just closed may still show in pg_stat_activity for a moment
    sessions = (
        "select pid, state_change from pg_stat_activity where datname = current_database() "
        f"and application_name like 'migrator {proc.pid}@%' order by pid"
    )
    try:
        wait_for(step_started(sql, "pause"), proc=proc)
        # The event that says so commits a moment before its session goes idle: from then
        # on no session of the run runs a statement.
        busy = (
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and pid <> pg_backend_pid() and state = 'active'"
        )
        wait_for(lambda: sql(busy) == [(0,)], proc=proc)
        first = sql(sessions)
        assert first  # the run's sessions are found
        for _ in range(10):  # a second of our own looks, each 0.1s apart at least
            sql("select pg_sleep(0.1)")
        assert sql(sessions) == first
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 143


SECRET = "sk_live_" + "A1b2C3d4E5f6G7h8" * 6


def test_a_row_quoted_in_a_detail_and_cut_by_the_server_never_shows_a_secrets_first_half(
    migrator: Any, sql: Any, write_plan: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("API_TOKEN", SECRET)
    sql("create table creds (id int, token text, note text not null)")
    flag = '{flag: {name: api_token, value: "${env:API_TOKEN}"}}'
    step = (
        "name: store token\n"
        "sql: \"insert into creds select 1, value #>> '{}', null from migrator.flags\""
    )
    result = migrator("apply", write_plan(phased("s", [flag, step])), "--to", "b")
    assert result.code == 1, result.out + result.err
    assert "not-null constraint" in result.out + result.err
    for text in [result.out, result.err] + [
        d for (d,) in sql("select detail::text from migrator.events")
    ]:
        assert SECRET[:24] not in text
