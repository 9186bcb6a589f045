"""Scenarios of features/checks, run for real against PostgreSQL."""

from __future__ import annotations

import shlex
from typing import Any

import psycopg
from pytest_bdd import given, parsers, scenarios, when

from tests.processes import spawn, wait_for

scenarios("checks")


@given(parsers.parse('another session holds the table "{table}" locked'))
def _(table: str, world: dict[str, Any]) -> None:
    holder = psycopg.connect(world["dsn"])
    holder.execute(f"lock table {table} in access exclusive mode")
    world["holder"] = holder


@when(
    parsers.parse('"{operator}" runs "{command}" in another terminal, until it waits for "{table}"')
)
def _(operator: str, command: str, table: str, world: dict[str, Any]) -> None:
    argv = [*shlex.split(command)[1:], "--dsn", world["dsn"]]
    proc = world["others"][operator] = spawn(*argv)

    def waits() -> bool:
        with psycopg.connect(world["dsn"], autocommit=True) as conn:
            return bool(
                conn.execute(
                    "select 1 from pg_locks where locktype = 'relation' "
                    "and relation = to_regclass(%s) and not granted",
                    (table,),
                ).fetchone()
            )

    wait_for(waits, proc=proc)


@when(parsers.parse('the other session adds a row to "{table}" and lets it go'))
def _(table: str, world: dict[str, Any]) -> None:
    holder = world.pop("holder")
    holder.execute(f"insert into {table} default values")
    holder.commit()
    holder.close()
