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
SERVICE = "/service"


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


@given(parsers.parse('the plan "{name}" checks instead that a service answers the token "{value}"'))
def _(name: str, value: str, world: dict[str, Any], receiver: Server) -> None:
    """The pre-check becomes an http check of a service (the receiver's `/service`, which
    answers another token): the token is read from the environment for its header and
    its expected answer, and the failing check is told with what it expected."""
    receiver.route(SERVICE, body={"token": "another"})
    path = world["dir"] / name
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if "- name: every order kept" in line)
    end = next(i for i, line in enumerate(lines) if line.strip() == "steps:")
    pad = lines[start].split("-", 1)[0]
    check = (
        f"{pad}- name: the service knows the token\n"
        f"{pad}  http: {{url: '{receiver.url}{SERVICE}', "
        f"headers: {{Authorization: 'Bearer {value}'}}}}\n"
        f"{pad}  expect: {{status: 200, json: {{token: '{value}'}}}}\n"
    )
    path.write_text("".join(lines[:start]) + check + "".join(lines[end:]))


@then(parsers.parse('the service was asked with the header "{header}"'))
def _(header: str, receiver: Server) -> None:
    name, value = header.split(": ", 1)
    asked = receiver.requests_to(SERVICE)
    assert asked and all(r.headers.get(name) == value for r in asked), asked


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


@then(parsers.parse('the receiver was told "{events}" by the {command}'))
def _(events: str, command: str, receiver: Server) -> None:
    # what the killed process told before it died depends on when it died: not asserted
    told = [e["event"] for e in _told(receiver) if e["command"] == command]
    assert told == events.split(", ")


@then(parsers.parse('the last notification says "{key}" is "{value}"'))
def _(key: str, value: str, receiver: Server) -> None:
    *_, last = _told(receiver)
    assert str(last[key]) == value, last


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
    told = receiver.requests_to(HOOK)
    assert told
    assert not any(text in r.body.decode() or text in json.dumps(r.headers) for r in told)


@then("no notification holds the database's password")
def _(receiver: Server, world: dict[str, Any]) -> None:
    password = world["dsn"].split("@")[0].rsplit(":", 1)[1]
    assert receiver.received and len(password) > 8
    assert not any(password in r.body.decode() for r in receiver.received)
    assert not any(password in json.dumps(r.headers) for r in receiver.received)
