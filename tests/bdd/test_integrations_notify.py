"""Scenarios of features/integrations/notify.feature, against a real HTTP receiver on
127.0.0.1 (tests/httpserver.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.helpers import query
from tests.httpserver import Server, running

scenarios("integrations/notify.feature")

HOOK = "/hook/T0K3N-secret"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("MIGRATOR_NOTIFY_URL", raising=False)
    with running() as server:
        server.route(HOOK)
        yield server
        for route in server.routes.values():
            if route.hold is not None:
                route.hold.set()


@given(
    parsers.parse(
        'a receiver, whose URL (its token in the path) is in the environment variable "{name}"'
    )
)
def _(name: str, receiver: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, receiver.url + HOOK)


@given("the receiver hangs")
def _(receiver: Server) -> None:
    receiver.route(HOOK, hold=threading.Event())


@given("the receiver is down")
def _(monkeypatch: pytest.MonkeyPatch) -> None:
    with running() as gone:
        url = gone.url  # nobody listens there once it stopped
    monkeypatch.setenv("RECEIVER_URL", url + HOOK)


@given(parsers.parse('the plan "{name}" tells its receiver in format "{kind}"'))
def _(name: str, kind: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    path.write_text(path.read_text() + f"    format: {kind}\n")


@given(parsers.parse('the plan "{name}" has its check expecting "{value}"'))
def _(name: str, value: str, world: dict[str, Any]) -> None:
    path = world["dir"] / name
    text = path.read_text()
    old = 'expect: {equals_query: "select id from orders_before"}'
    assert old in text
    path.write_text(
        text.replace("select id from orders\n", "select 'x'\n").replace(old, f'expect: "{value}"')
    )


def _told(receiver: Server) -> list[dict[str, Any]]:
    return [r.json() for r in receiver.requests_to(HOOK)]


def _one(receiver: Server, event: str) -> dict[str, Any]:
    [found] = [e for e in _told(receiver) if e.get("event") == event]
    return found


@then(parsers.parse('the receiver was told "{events}"'))
def _(events: str, receiver: Server) -> None:
    assert [e["event"] for e in _told(receiver)] == events.split(", ")


@then(parsers.parse('the "{event}" notification says "{key}" is "{value}"'))
def _(event: str, key: str, value: str, receiver: Server) -> None:
    document: Any = _one(receiver, event)
    for part in key.split("."):
        document = document[int(part)] if isinstance(document, list) else document[part]
    assert str(document) == value, document


@then(parsers.parse('the Slack message that says "{words}" has a block "{text}"'))
def _(words: str, text: str, receiver: Server) -> None:
    [message] = [m for m in _told(receiver) if words in m["text"]]
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    assert any(t.startswith(text) for t in texts), texts


@then("the run ended while the receiver was still holding on")
def _(receiver: Server) -> None:
    route = receiver.routes[HOOK]
    assert route.hold is not None and not route.hold.is_set()
    assert not route.answered.is_set()
    assert len(receiver.requests_to(HOOK)) >= 2  # run_started, and its one retry


def _warnings(world: dict[str, Any]) -> list[str]:
    rows = query(
        world["dsn"], "select detail from migrator.events where kind = 'hook' and status = 'warned'"
    )
    return [row[0]["detail"] for row in rows]


@then(parsers.parse('the audit trail has a warning "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    assert any(text in warning for warning in _warnings(world)), _warnings(world)


@then(parsers.parse('no warning holds "{text}"'))
def _(text: str, world: dict[str, Any]) -> None:
    found = _warnings(world)
    assert found and not any(text in warning for warning in found), found


@then(parsers.parse('no notification holds "{text}"'))
def _(text: str, receiver: Server) -> None:
    assert receiver.received
    assert not any(text in r.body.decode() for r in receiver.received)


@then("no notification holds the database's password")
def _(receiver: Server, world: dict[str, Any]) -> None:
    password = world["dsn"].split("@")[0].rsplit(":", 1)[1]
    assert receiver.received and len(password) > 8
    assert not any(password in r.body.decode() for r in receiver.received)
    assert not any(password in json.dumps(r.headers) for r in receiver.received)
