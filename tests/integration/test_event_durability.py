"""Which audit events wait for the disk when they commit, and which do not.

A step in a transaction commits together with its `done` event, durably. Its `started`
event and the verdict of a check are committed without waiting for the WAL to reach the
disk (benchmarks/overhead.py: one WAL flush per step instead of two): other sessions see
them at once, and the next durable commit writes them first, so a crash of the server
can only lose a tail of them together with everything after it. The start of a step
outside a transaction is durable: undoing a run relies on it. A trigger on
`migrator.events` records the `synchronous_commit` in force as each event is written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine

from migrator.state import ensure_schema
from tests.plans import phased

PLAN = phased(
    "durability",
    [
        "name: in a transaction\n"
        "sql: insert into seen values (current_setting('synchronous_commit'))",
        "name: outside one\n"
        "sql: insert into seen values (current_setting('synchronous_commit'))\n"
        "autocommit: true",
    ],
    pre_checks=["{name: nothing yet, query: select count(*) from seen, expect: 0}"],
    post_checks=["{name: both ran, query: select count(*) from seen, expect: 2}"],
)

WATCH = """
create table public.commits (kind text, status text, step text, sync text);
create function public.watch() returns trigger language plpgsql as $$
begin
  insert into public.commits
  values (new.kind, new.status, new.step, current_setting('synchronous_commit'));
  return new;
end $$;
create trigger watch after insert on migrator.events
  for each row execute function public.watch();
"""


def test_only_a_transactional_steps_start_and_check_verdicts_skip_the_disk(
    write_plan: Any, database: str, migrator: Any, sql: Any
) -> None:
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        ensure_schema(conn)
    engine.dispose()
    sql("create table seen (sync text)")
    sql(WATCH)
    result = migrator("apply", write_plan(PLAN), "--to", "b")
    assert result.code == 0, result.out + result.err
    # the steps themselves, and so their `done` events, commit durably
    assert sql("select sync from seen") == [("on",), ("on",)]
    lazily = sql("select kind, status, step from commits where sync = 'off' order by 1, 3")
    assert lazily == [
        ("check", "passed", "both ran"),
        ("check", "passed", "nothing yet"),
        ("step", "started", "in a transaction"),
    ]
    durably = sql("select kind, status, step from commits where sync = 'on'")
    assert ("step", "started", "outside one") in durably
    assert ("step", "done", "in a transaction") in durably
    assert ("state", "succeeded", None) in durably
    # every lazily written event came before a durable one that carried it to the disk
    last = sql("select max(id) from migrator.events")[0][0]
    assert sql("select kind, status from migrator.events where id = %s", last) == [
        ("state", "succeeded")
    ]
