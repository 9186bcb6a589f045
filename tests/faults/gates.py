"""Stopping a running migrator at an exact moment, so that a fault can strike there.

A gate is a trigger the test installs on `migrator.events` and `migrator.checkpoints`:
when a row the test named is written, the writing transaction waits on an advisory
lock the test holds. The migrator is then frozen at a known instant, with that
row's transaction open and uncommitted. The `started` event of a step is written in
a transaction of its own, so a gate on it stops the run *before* the step; the
`done` event of a step in a transaction commits with the step's work, so a gate on
it stops the run *inside* the step, its work done but not committed; a gate on a
backfill's checkpoint stops it in the middle of a batch.

A table gate is the other kind: the test holds an ACCESS EXCLUSIVE lock on a table
the migrator is about to read (a backfill reads `migrator.controls` before each
batch), which stops it *between* two batches with nothing open.

`run_held_at` starts a migrator process and waits until a row gate holds it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.processes import sigkill, spawn, wait_for

GATE = (7, 7)  # the advisory lock (two int keys) a gated transaction waits on

INSTALL = """
create schema if not exists fault;
create table if not exists fault.gate (tab text not null, match jsonb not null);
create or replace function fault.hold() returns trigger language plpgsql as $$
declare
  lock_timeout_was text := current_setting('lock_timeout');
  statement_timeout_was text := current_setting('statement_timeout');
begin
  if exists (select 1 from fault.gate g where g.tab = tg_table_name and to_jsonb(new) @> g.match)
  then
    -- a step's lock_timeout must not end the wait: the test decides when it ends
    perform set_config('lock_timeout', '0', true);
    perform set_config('statement_timeout', '0', true);
    perform pg_advisory_xact_lock(7, 7);
    perform set_config('lock_timeout', lock_timeout_was, true);
    perform set_config('statement_timeout', statement_timeout_was, true);
  end if;
  return new;
end $$;
drop trigger if exists fault_gate on migrator.events;
create trigger fault_gate before insert on migrator.events
  for each row execute function fault.hold();
drop trigger if exists fault_gate on migrator.checkpoints;
create trigger fault_gate before insert or update on migrator.checkpoints
  for each row execute function fault.hold();
"""


class Gate:
    """Holds a migrator at one moment of its run (see the module's docstring)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        _ensure_migrator_schema(dsn)  # the triggers go on its tables
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(INSTALL)
        self._table_lock: psycopg.Connection[Any] | None = None

    def at_row(self, table: str, **match: Any) -> None:
        """Stop the transaction that writes a row of `table` (events, checkpoints) with
        these column values."""
        self.conn.execute("select pg_advisory_lock(%s, %s)", GATE)
        self.conn.execute(
            "insert into fault.gate (tab, match) values (%s, %s)", (table, json.dumps(match))
        )

    def reached_row(self) -> int | None:
        """The backend waiting at the row gate, if one is."""
        row = self.conn.execute(
            "select pid from pg_locks where locktype = 'advisory' and classid = %s "
            "and objid = %s and objsubid = 2 and not granted",
            GATE,
        ).fetchone()
        return int(row[0]) if row else None

    def catch_no_more(self) -> None:
        """Stop catching rows: what waits at the row gate keeps waiting (until `open`),
        rows written from now on (another process's) go through."""
        self.conn.execute("delete from fault.gate")

    def at_table(self, table: str) -> None:
        """Hold an ACCESS EXCLUSIVE lock on `table` from now on (the migrator waits to read)."""
        conn = psycopg.connect(self.dsn)
        conn.execute(f"lock table {table} in access exclusive mode")
        self._table_lock = conn

    def reached_table(self, table: str) -> int | None:
        """The backend waiting for the table gate, if one is."""
        row = self.conn.execute(
            "select pid from pg_locks where locktype = 'relation' "
            "and relation = to_regclass(%s) and not granted",
            (table,),
        ).fetchone()
        return int(row[0]) if row else None

    def open_row(self) -> None:
        """Let the row gate through from now on (met again, it does not wait)."""
        try:
            self.conn.execute("select pg_advisory_unlock_all()")
        except psycopg.OperationalError:  # the server restarted: the lock went with it
            self.conn.close()
            self.conn = psycopg.connect(self.dsn, autocommit=True)
        self.conn.execute("delete from fault.gate")

    def open(self) -> None:
        """Let everything through from now on."""
        self.open_row()
        if self._table_lock is not None:
            self._table_lock.close()  # its transaction, and the table's lock, end with it
            self._table_lock = None

    def close(self) -> None:
        for conn in (self._table_lock, self.conn):
            if conn is not None and not conn.closed:
                conn.close()


@contextmanager
def run_held_at(
    dsn: str, argv: Sequence[str | Path], env: dict[str, str] | None = None, **match: Any
) -> Iterator[tuple[subprocess.Popen[str], Gate]]:
    """`migrator ARGV --dsn DSN` as a real process (tests/processes.py), held by a row gate
    where it writes the event `match`; yields the process and the gate once it waits
    there. At the end the process is killed if it still runs, and the gate closed."""
    gate = Gate(dsn)
    try:
        gate.at_row("events", **match)
        proc = spawn(*argv, "--dsn", dsn, env=env)
        try:
            wait_for(lambda: gate.reached_row() is not None, proc=proc)
            yield proc, gate
        finally:
            if proc.poll() is None:
                sigkill(proc)
    finally:
        gate.close()


def _ensure_migrator_schema(dsn: str) -> None:
    """Schema `migrator`, created as migrator itself creates it on first use."""
    from sqlalchemy import create_engine

    from migrator.state import ensure_schema

    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    try:
        with engine.connect() as conn:
            ensure_schema(conn)
    finally:
        engine.dispose()
