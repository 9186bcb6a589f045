"""A real HTTP server on 127.0.0.1 for the tests of the http action and check, the secrets
tests and the http scenarios: `serving(answer)` runs one in a thread, `Server` is one that
answers per path, records every request, and can hold an answer until the test lets it go.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[BaseHTTPRequestHandler], None]

HOLD_BOUND = 60.0  # seconds a held answer waits for the test at most, then goes out


@contextmanager
def serving(answer: Answer) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1, in a thread, that calls `answer` with each request
    (any method); yields its URL. Set NO_PROXY=127.0.0.1 for the client."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            answer(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def body_of(request: BaseHTTPRequestHandler) -> bytes:
    """The request's body (as its Content-Length says)."""
    length = int(request.headers.get("Content-Length") or 0)
    return request.rfile.read(length) if length else b""


def reply(
    request: BaseHTTPRequestHandler, status: int, payload: bytes, kind: str = "application/json"
) -> None:
    """Answer `request` with `status` and `payload` (no body for HEAD)."""
    request.send_response(status)
    request.send_header("Content-Type", kind)
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(payload)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Route:
    status: int | list[int] = 200  # a list: one per request, the last one repeats
    body: Any = None  # JSON-able, or bytes sent as they are
    hold: threading.Event | None = None  # the answer waits until the test sets it
    answered: threading.Event = field(default_factory=threading.Event)  # the answer went out

    def next_status(self) -> int:
        if isinstance(self.status, int):
            return self.status
        return self.status.pop(0) if len(self.status) > 1 else self.status[0]


@dataclass
class Server:
    """A real HTTP server: what it answers on each path, and every request it received."""

    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def route(
        self,
        path: str,
        status: int | list[int] = 200,
        body: Any = None,
        hold: threading.Event | None = None,
    ) -> Route:
        self.routes[path] = Route(status, body, hold)
        return self.routes[path]

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        body = body_of(request)
        self.received.append(Received(request.command, request.path, dict(request.headers), body))
        route = self.routes.get(request.path, Route(404, {"error": "no such route"}))
        if route.hold is not None:
            route.hold.wait(HOLD_BOUND)
        if isinstance(route.body, bytes):
            payload, kind = route.body, "text/plain"
        elif route.body is None:
            payload, kind = b"", "text/plain"
        else:
            payload, kind = json.dumps(route.body).encode(), "application/json"
        route.answered.set()
        with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            reply(request, route.next_status(), payload, kind)


@contextmanager
def running() -> Iterator[Server]:
    """A `Server`, running."""
    state = Server(url="")
    with serving(state.answer) as url:
        state.url = url
        yield state
