"""The plan every cell of the fault matrix runs: five steps, one of them a backfill.

Every step leaves a trace that shows when it ran twice, or was undone twice:
`unified` (the backfill's target) has no unique key, so a batch done twice leaves
duplicate rows; `legacy.touched` is a counter that s4 adds one to and its undo
takes one from; `ledger` gets one row from s5. A clean run to a phase leaves
exactly the data of `snapshot(...)` after a clean apply (phase after) or the seed
(phase before).
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.helpers import query

ROWS = 600
BATCH = 100  # six batches: the gates stop the backfill in its third and fourth
GATED_BATCH = 3

SEED = f"""
create table legacy (id bigint primary key, v text not null, touched int not null default 0);
insert into legacy (id, v) select g, md5(g::text) from generate_series(1, {ROWS}) g;
create table ledger (step text not null);
"""

PLAN = f"""\
plan: faults
description: five steps, a backfill among them, for the fault matrix
vars: {{verdict: pass}}
phases: [before, after]
transitions:
  - name: forward
    from: before
    to: after
    steps:
      - name: s1
        sql: create table unified (id bigint, v text)
        rollback: {{sql: drop table unified}}
      - name: s2
        flag: {{name: DUAL_WRITE, value: true}}
      - name: s3
        backfill:
          table: legacy
          key: id
          batch_size: {BATCH}
          statement: insert into unified select id, v from legacy where id > :lo and id <= :hi
        rollback: {{sql: truncate unified}}
      - name: s4
        sql: update legacy set touched = touched + 1
        rollback: {{sql: update legacy set touched = touched - 1}}
      - name: s5
        sql: insert into ledger values ('s5')
        rollback: {{sql: "delete from ledger where step = 's5'"}}
    post_checks:
      - name: every legacy row is unified
        query: select count(*) from unified
        expect: {ROWS}
      - name: the verdict of the release
        query: select cast(:verdict as text)
        expect: pass
"""

STEPS = ("s1", "s2", "s3", "s4", "s5")


def seed(dsn: str) -> None:
    query(dsn, SEED)


def snapshot(dsn: str) -> dict[str, Any]:
    """Every table of schema public, whole and sorted, and the flags the plan keeps."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select tablename from pg_tables where schemaname = 'public' order by 1"
            )
        ]
        data: dict[str, Any] = {
            t: [r[0] for r in conn.execute(f'select t::text from "{t}" t order by 1')]
            for t in tables
        }
        has_flags = conn.execute("select to_regclass('migrator.flags') is not null").fetchone()
        data["migrator.flags"] = (
            conn.execute("select name, value from migrator.flags order by 1").fetchall()
            if has_flags and has_flags[0]
            else []
        )
    return data
