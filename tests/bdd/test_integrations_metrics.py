"""Scenarios of features/integrations/metrics.feature: the metrics file read by
Prometheus' own parser, a real HTTP server standing in for the pushgateway.

Named test_integrations_*.py: tests/unit/test_features.py wants each feature file of the
area `integrations` named by a module tests/bdd/test_integrations_*.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.helpers import query
from tests.httpserver import Route, Server, running
from tests.metrics import read, value

scenarios("integrations/metrics.feature")

GROUP = "/metrics/job/migrator/plan/fill"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A pushgateway stand-in, given by MIGRATOR_PUSHGATEWAY once a scenario asks for it."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    release = threading.Event()
    state: dict[str, Any] = {"release": release}
    with running() as server:
        state["server"] = server
        try:
            yield state
        finally:
            release.set()


def _server(gateway: dict[str, Any]) -> Server:
    server: Server = gateway["server"]
    return server


@given("a pushgateway")
def _(gateway: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway["route"] = _server(gateway).route(GROUP, 200)
    monkeypatch.setenv("MIGRATOR_PUSHGATEWAY", _server(gateway).url)


@given("a pushgateway that never answers")
def _(gateway: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    gateway["route"] = _server(gateway).route(GROUP, 200, hold=gateway["release"])
    monkeypatch.setenv("MIGRATOR_PUSHGATEWAY", _server(gateway).url)


def _read(world: dict[str, Any], file: str) -> str:
    return read(world["dir"] / file)


@then(parsers.parse('Prometheus reads "{file}" with "{metric}" of step "{step}" at {number:d}'))
def _(file: str, metric: str, step: str, number: int, world: dict[str, Any]) -> None:
    assert value(_read(world, file), metric, plan="fill", step=step) == number


@then(parsers.parse('Prometheus reads "{file}" with "{metric}" of step "{step}"'))
def _(file: str, metric: str, step: str, world: dict[str, Any]) -> None:
    found = value(_read(world, file), metric, plan="fill", step=step)
    assert found is not None and found > 0


@then(
    parsers.parse('Prometheus reads "{file}" with "{metric}" of outcome "{outcome}" at {number:d}')
)
def _(file: str, metric: str, outcome: str, number: int, world: dict[str, Any]) -> None:
    assert value(_read(world, file), metric, plan="fill", outcome=outcome) == number


@then(parsers.parse('Prometheus reads "{file}" with "{metric}" at {number:d}'))
def _(file: str, metric: str, number: int, world: dict[str, Any]) -> None:
    assert value(_read(world, file), metric, plan="fill", command="apply") == number


@then(parsers.parse("the pushgateway received the rows walked as they grew, the last at {rows:d}"))
def _(rows: int, gateway: dict[str, Any]) -> None:
    """The pushes coalesce (a push waiting is replaced by newer figures): some batches'
    figures may never be pushed, but those pushed grow, batch by batch, to the last."""
    puts = _server(gateway).requests_to(GROUP)
    walked = [
        value(p.body.decode(), "migrator_backfill_rows_walked_total", plan="fill", step="copy")
        for p in puts
    ]
    told = [int(w) for w in walked if w is not None]
    assert told and told == sorted(told) and told[-1] == rows
    assert all(w % 2500 == 0 for w in told)


@then(parsers.parse("the last push says the command ended with exit code {code:d}"))
def _(code: int, gateway: dict[str, Any]) -> None:
    last = _server(gateway).requests_to(GROUP)[-1].body.decode()
    assert value(last, "migrator_command_exit_code", plan="fill", command="apply") == code


@then("the run ended while the pushgateway still held its answer")
def _(gateway: dict[str, Any]) -> None:
    route: Route = gateway["route"]
    assert not route.answered.is_set()
    assert _server(gateway).requests_to(GROUP)  # it was asked


@then(parsers.parse('the audit trail of plan "{plan}" has {count:d} warning'))
def _(plan: str, count: int, world: dict[str, Any]) -> None:
    rows = query(
        world["dsn"],
        "select e.detail from migrator.events e join migrator.runs r on r.id = e.run_id "
        "where r.plan = %s and e.kind = 'hook' and e.status = 'warned'",
        plan,
    )
    assert len(rows) == count
