"""A check waits at most `lock_timeout` for a lock, then looks again: it never queues the
application's writes behind it for longer, and a blocker that leaves lets it pass."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.plans import hotfix
from tests.processes import sigkill, spawn, wait_for

PLAN = hotfix(
    "checked",
    ["name: mark\nsql: insert into marks values (1)"],
    pre_checks=["name: counted\nquery: select count(*) from accounts\nexpect: 1"],
)

WAITING = (
    "select a.xact_start from pg_locks l join pg_stat_activity a on a.pid = l.pid "
    "where l.relation = 'accounts'::regclass and not l.granted"
)


def test_a_check_behind_a_blocker_gives_up_its_wait_and_looks_again(
    sql: Any, write_plan: Any, database: str
) -> None:
    sql("create table accounts (id int); insert into accounts values (1)")
    sql("create table marks (id int)")
    plan = write_plan(PLAN)
    with psycopg.connect(database) as blocker:
        blocker.execute("lock table accounts in access exclusive mode")
        proc = spawn("apply", plan, "--dsn", database)
        try:
            wait_for(lambda: bool(sql(WAITING)), proc=proc)
            (first,) = sql(WAITING)[0]
            # the first look gave up at its lock_timeout, and a second one waits now:
            # its own transaction, started after the first
            wait_for(lambda: any(s != first for (s,) in sql(WAITING)), timeout=30, proc=proc)
            blocker.rollback()  # the blocker leaves
            out, err = proc.communicate(timeout=60)
        finally:
            sigkill(proc)
    assert proc.returncode == 0, out + err
    assert sql("select * from marks") == [(1,)]
    verdicts = sql("select status from migrator.events where kind = 'check'")
    assert verdicts == [("passed",)]
