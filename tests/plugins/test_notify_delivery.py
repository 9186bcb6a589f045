"""The `notify` plugin's delivery against hostile receivers (real HTTP servers on
127.0.0.1): one whose answer's body never ends, one that trickles its answer's headers a
line at a time (each read within the timeout, the whole never), one that answers a huge
body. A notification is decided on the status line and headers; its body is never read;
an attempt ends at its deadline whatever the receiver does."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from migrator import api
from migrator.plugin.manager import get_plugin_manager
from tests.httpserver import body_of, serving
from tests.plans import phased
from tests.processes import wait_for

HUGE = 256 * 1024 * 1024
"""Bytes of the huge answer's body (announced; written until the client stops reading)."""
CHUNK = 64 * 1024


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("MIGRATOR_NOTIFY_URL", raising=False)


class Hostile:
    """A receiver that answers every request as `kind` says, recording each body, until
    `stop` is set: `slow body` (200, its body held), `trickle` (a status line, then a
    header line every 50 ms, forever), `huge` (200 with HUGE bytes of body)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stop = threading.Event()
        self.bodies: list[dict[str, Any]] = []
        self.written = 0  # bytes of body written, all answers together
        self._lock = threading.Lock()

    def events(self) -> list[str]:
        with self._lock:
            return [b["event"] for b in self.bodies]

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        body = json.loads(body_of(request))
        with self._lock:
            self.bodies.append(body)
        with suppress(BrokenPipeError, ConnectionResetError):
            out = request.wfile
            if self.kind == "trickle":
                out.write(b"HTTP/1.1 200 OK\r\n")
                out.flush()
                while not self.stop.wait(0.05):  # the receiver's pace, not the test's
                    out.write(b"X-Slow: a\r\n")
                    out.flush()
                return
            length = HUGE if self.kind == "huge" else 10
            out.write(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode())
            out.flush()
            if self.kind == "slow body":
                self.stop.wait(60)
                return
            chunk = b"0" * CHUNK
            while self.written < HUGE and not self.stop.is_set():
                out.write(chunk)
                with self._lock:
                    self.written += CHUNK


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[tuple[str, Hostile]]:
    receiver = Hostile(request.param)
    with serving(receiver) as url:
        try:
            yield url + "/hook/T0K3N-secret", receiver
        finally:
            receiver.stop.set()


def applied(write_plan: Any, database: str, url: str) -> tuple[int, api.Context]:
    plan = write_plan(
        phased("hostile", ["{sql: select 1}"]) + f"notify:\n  - url: {url}\n    timeout: 1s\n"
    )
    ctx = api.Context(
        out=io.StringIO(),
        err=io.StringIO(),
        dsn=database,
        plugin_manager=get_plugin_manager(),
        operator="dora",
    )
    return api.apply(ctx, plan, "b"), ctx


def warnings(sql: Any) -> list[str]:
    rows = sql("select detail from migrator.events where kind = 'hook' and status = 'warned'")
    return [row[0]["detail"] for row in rows]


@pytest.mark.parametrize("hostile", ["slow body"], indirect=True)
def test_a_2xx_is_delivered_on_its_status_line_never_sent_again_for_a_slow_body(
    hostile: tuple[str, Hostile], write_plan: Any, database: str, sql: Any
) -> None:
    url, receiver = hostile
    code, _ = applied(write_plan, database, url)
    assert code == 0
    assert receiver.events() == ["run_started", "run_succeeded"]  # each once: no retry
    assert warnings(sql) == []


@pytest.mark.parametrize("hostile", ["trickle"], indirect=True)
def test_a_receiver_that_trickles_its_answer_holds_an_attempt_no_longer_than_its_budget(
    hostile: tuple[str, Hostile], write_plan: Any, database: str, sql: Any
) -> None:
    url, receiver = hostile
    code, _ = applied(write_plan, database, url)
    assert code == 0
    # each read came within the timeout, the answer never ended: the lane still moved on
    wait_for(lambda: "run_succeeded" in receiver.events(), timeout=30)
    assert receiver.events()[:2] == ["run_started", "run_started"]  # its one retry
    assert not receiver.stop.is_set()  # all while the receiver still trickled
    assert any("not delivered: no answer within 1s" in w for w in warnings(sql))


@pytest.mark.parametrize("hostile", ["huge"], indirect=True)
def test_a_huge_answer_is_never_read(
    hostile: tuple[str, Hostile], write_plan: Any, database: str, sql: Any
) -> None:
    url, receiver = hostile
    code, _ = applied(write_plan, database, url)
    assert code == 0
    assert receiver.events() == ["run_started", "run_succeeded"]
    assert warnings(sql) == []
    # what went out is what the sockets' buffers hold at most, far from the whole body
    assert receiver.written < HUGE // 8, receiver.written
