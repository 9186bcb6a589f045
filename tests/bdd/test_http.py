"""Scenarios of features/http, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

scenarios("http")


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A small HTTP service: answers per path, and every request it received."""
    state: dict[str, Any] = {"answers": {}, "received": []}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            state["received"].append(f"{self.headers}\n{body}")
            status, body = state["answers"].get(self.path, (404, '{"error": "no such path"}'))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("SERVICE_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@given(parsers.parse('the service answers "{path}" with {status:d} and:'))
def _(path: str, status: int, docstring: str, service: dict[str, Any]) -> None:
    json.loads(docstring)  # a scenario's answer is JSON
    service["answers"][path] = (status, docstring)


@then(parsers.parse('the service was called with "{header}"'))
def _(header: str, service: dict[str, Any]) -> None:
    assert any(header in received for received in service["received"]), service["received"]
