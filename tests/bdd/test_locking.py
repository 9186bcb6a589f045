"""Scenarios of features/locking, run for real against PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.helpers import query
from tests.processes import wait_for

scenarios("locking")

REPORT = "select * from busy /* the long report */"


def _recorded(world: dict[str, Any], kind: str, status: str, step: str) -> list[dict[str, Any]]:
    if query(world["dsn"], "select to_regclass('migrator.events')") == [(None,)]:
        return []
    rows = query(
        world["dsn"],
        "select detail from migrator.events where kind = %s and status = %s and step = %s "
        "order by id",
        kind,
        status,
        step,
    )
    return [row[0] for row in rows]


def _report(world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    """A session that read table busy and stays in its transaction (ACCESS SHARE held)."""
    holder = psycopg.connect(world["dsn"], application_name="reporting-job")
    request.addfinalizer(holder.close)
    holder.execute(REPORT)
    world["report"], world["report_pid"] = holder, holder.info.backend_pid


def _in_background(world: dict[str, Any], work: Any, request: pytest.FixtureRequest) -> None:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    request.addfinalizer(lambda: thread.join(timeout=60))


@given("a reporting session read table busy and stays in its transaction")
def _(world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    _report(world, request)


@given(parsers.parse('the reporting session ends once "{step}" has been retried'))
def _(step: str, world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    def end() -> None:
        wait_for(lambda: bool(_recorded(world, "step", "retry", step)), timeout=30)
        world["report"].rollback()

    _in_background(world, end, request)


@given(
    parsers.parse(
        'a reporting session reads table busy once "{step}" has started, then tells it to fail'
    )
)
def _(step: str, world: dict[str, Any], request: pytest.FixtureRequest) -> None:
    def block() -> None:
        wait_for(lambda: bool(_recorded(world, "step", "started", step)), timeout=30)
        _report(world, request)
        query(world["dsn"], "insert into go_on values (true)")

    _in_background(world, block, request)


@then(parsers.parse('the output names the reporting session on {count:d} {retries} of "{step}"'))
def _(count: int, retries: str, step: str, world: dict[str, Any]) -> None:
    verb = "undo " if retries.endswith("of the undo") else ""
    lines = [
        line
        for line in world["output"].splitlines()
        if line.strip().startswith(f"↻ {verb}{step} (")
        and f"blocked by pid {world['report_pid']}" in line
        and REPORT in line
    ]
    assert len(lines) == count, world["output"]


def _blockers_recorded(world: dict[str, Any], kind: str, step: str) -> None:
    retries = _recorded(world, kind, "retry", step)
    (failed,) = _recorded(world, kind, "failed", step)
    assert retries
    for detail in [*retries, failed]:
        assert [b["pid"] for b in detail["blockers"]] == [world["report_pid"]], detail
        assert detail["blockers"][0]["application"] == "reporting-job"


@then(
    parsers.parse(
        'the audit trail names the reporting session in every retry and in the failure of "{step}"'
    )
)
def _(step: str, world: dict[str, Any]) -> None:
    _blockers_recorded(world, "step", step)


@then(
    parsers.parse(
        "the audit trail names the reporting session in every retry and in the failure "
        'of the undo of "{step}"'
    )
)
def _(step: str, world: dict[str, Any]) -> None:
    _blockers_recorded(world, "undo", step)
