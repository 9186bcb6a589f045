"""Scenarios of features/http, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.httpserver import body_of, reply, serving

scenarios("http")


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A small HTTP service: answers per path, and every request it received."""
    state: dict[str, Any] = {"answers": {}, "received": []}

    def answer(request: BaseHTTPRequestHandler) -> None:
        body = body_of(request).decode()
        state["received"].append(f"{request.headers}\n{body}")
        status, text = state["answers"].get(request.path, (404, '{"error": "no such path"}'))
        reply(request, status, text.encode())

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with serving(answer) as url:
        monkeypatch.setenv("SERVICE_URL", url)
        yield state


@given(parsers.parse('the service answers "{path}" with {status:d} and:'))
def _(path: str, status: int, docstring: str, service: dict[str, Any]) -> None:
    json.loads(docstring)  # a scenario's answer is JSON
    service["answers"][path] = (status, docstring)


@then(parsers.parse('the service was called with "{header}"'))
def _(header: str, service: dict[str, Any]) -> None:
    assert any(header in received for received in service["received"]), service["received"]
