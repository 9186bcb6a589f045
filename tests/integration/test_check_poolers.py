"""`migrator plan` through a pooler in transaction mode: its checks run read-only and
guarded there too, and leave no session state on the server sessions the pooler hands to
other clients (no read-only default, no reset of theirs, no lock released or left)."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.plans import phased
from tests.poolers import Poolers


def test_a_dry_run_through_transaction_pooling_leaves_the_shared_sessions_as_they_were(
    migrator: Any, write_plan: Any, sql: Any, database: str, poolers: Poolers
) -> None:
    sql("create table t (id int); insert into t values (1)")
    plan = write_plan(
        phased(
            "pooled",
            ["{sql: delete from t}"],
            pre_checks=[f"{{query: select count(*) from t, expect: {n}}}" for n in range(6)],
        )
    )
    pooled = poolers("transaction").dsn(database)
    result = migrator("plan", plan, "--to", "b", "--dsn", pooled, dsn=False)
    assert result.code == 0, result.out + result.err
    assert "pre-check query #2: passes today" in result.out
    # another client of the pooler: its transactions are read-write, on any server session
    with psycopg.connect(pooled, autocommit=True) as other:
        for n in range(8):
            assert other.execute("show default_transaction_read_only").fetchone() == ("off",)
            other.execute("insert into t values (%s)", (n + 2,))
    assert sql("select count(*) from t") == [(9,)]
    assert sql("select count(*) from pg_locks where locktype = 'advisory'") == [(0,)]
