"""Delivering notifications without holding the run: a thread per receiver sends its
notifications in order; each gets the receiver's `timeout` in all, its one retry included
(after a connection error, a timeout, a 5xx or a 429), each attempt ended at its deadline
whatever the receiver does, and decided on the answer's status line and headers (its body
is never read: a 2xx is delivered then, never sent again). The run waits only at a run's end
(and the command's), at most the timeout, for what it queued (`Outbox.flush`); what went
wrong is handed back as warnings (`Outbox.warnings`) for the run's thread to record."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

FIRST_SHARE = 0.45
"""The share of the timeout the first attempt may use; the retry's ends at SENDING_SHARE."""
SENDING_SHARE = 0.9
"""The share of the timeout a notification's attempts use: a notification gives up before
a flush stops waiting for it, so that a flush tells why it was not delivered."""


def origin(url: str) -> str:
    """How a receiver is shown: `scheme://host[:port]`, never its path, query or user."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Target:
    """A receiver as delivery knows it: its resolved URL (a secret), how it is shown, and
    the seconds one notification may take."""

    url: str
    shown: str
    timeout: float


@dataclass
class Item:
    """One notification on its way."""

    event: str
    body: bytes
    target: Target
    done: threading.Event = field(default_factory=threading.Event)
    waited: bool = False  # a flush waited for it already: no other will
    given_up: bool = False  # a flush stopped waiting for it (and said so)


class Outbox:
    """The notifications of one command: a lane (a thread) per receiver, the warnings."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        self.mask = mask
        self._lanes: dict[str, queue.SimpleQueue[Item | None]] = {}
        self._items: list[Item] = []
        self._warnings: list[str] = []
        self._lock = threading.Lock()

    def send(self, target: Target, event: str, body: bytes) -> None:
        """Queue `body` for `target`; never waits."""
        lane = self._lanes.get(target.url)
        if lane is None:
            lane = self._lanes[target.url] = queue.SimpleQueue()
            threading.Thread(
                target=self._work, args=(lane,), name=f"notify {target.shown}", daemon=True
            ).start()
        item = Item(event, body, target)
        self._items.append(item)
        lane.put(item)

    def flush(self) -> None:
        """Wait for what was queued since the last flush: at most the longest timeout of
        the receivers concerned. A notification still on its way then is left to its
        thread, with a warning."""
        pending = [item for item in self._items if not item.waited]
        if not pending:
            return
        deadline = time.monotonic() + max(item.target.timeout for item in pending)
        for item in pending:
            item.waited = True
            if not item.done.wait(max(deadline - time.monotonic(), 0.0)):
                item.given_up = True
                self._warn(
                    f"notification {item.event} to {item.target.shown}: no answer within "
                    f"{item.target.timeout:g}s; the run went on without it"
                )
        self._items = [item for item in self._items if not item.done.is_set()]

    def warnings(self) -> list[str]:
        """The warnings since the last call (masked), oldest first."""
        with self._lock:
            taken, self._warnings = self._warnings, []
        return taken

    def close(self) -> None:
        """No more notifications: each lane's thread ends after what it holds."""
        for lane in self._lanes.values():
            lane.put(None)

    def _warn(self, text: str) -> None:
        with self._lock:
            self._warnings.append(self.mask(text))

    def _work(self, lane: queue.SimpleQueue[Item | None]) -> None:
        import httpx

        limits = httpx.Limits(max_keepalive_connections=0)  # a connection per notification
        with httpx.Client(follow_redirects=False, limits=limits) as client:
            while (item := lane.get()) is not None:
                try:
                    failure = deliver(client, item)
                except Exception as exc:  # a bug of ours must not kill the lane
                    failure = f"{type(exc).__name__}: {exc}"
                if failure is not None and not item.given_up:
                    self._warn(
                        f"notification {item.event} to {item.target.shown} not delivered: {failure}"
                    )
                item.done.set()


def deliver(client: object, item: Item) -> str | None:
    """POST `item` within its budget, retried once; None when delivered, else why not."""
    budget = item.target.timeout
    deadline = time.monotonic() + budget * SENDING_SHARE
    why, tried = "", 0
    for attempt in (1, 2):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        limit = min(left, budget * FIRST_SHARE) if attempt == 1 else left
        tried = attempt
        status, why = _attempt(client, item, limit)
        if status is None:
            continue
        if 200 <= status < 300:
            return None
        why = f"HTTP {status}"
        if status < 500 and status != 429:
            return why  # the receiver refuses it: sending it again will not help
    return f"{why} ({tried} attempt{'s' if tried > 1 else ''})"


def _attempt(client: object, item: Item, limit: float) -> tuple[int | None, str]:
    """One POST of `item`, ended after `limit` seconds whatever the receiver does: its
    status, decided on the status line and headers (the body is never read), or None and
    why. The request runs on a thread of its own: one the receiver holds past `limit`
    (trickling its answer, each read within the timeout) is left to end on its own (its
    answer closed unread when it comes; the lane's client closed when the lane ends)."""
    import httpx

    assert isinstance(client, httpx.Client)
    outcome: list[tuple[int | None, str]] = []
    done = threading.Event()

    def post() -> None:
        try:
            with client.stream(
                "POST",
                item.target.url,
                content=item.body,
                headers={"Content-Type": "application/json"},
                timeout=httpx.Timeout(limit),
            ) as answer:  # leaving it unread closes the connection: no body is ever read
                outcome.append((answer.status_code, ""))
        except httpx.TimeoutException as exc:
            late = f"no answer within {item.target.timeout:g}s ({type(exc).__name__})"
            outcome.append((None, late))
        except httpx.HTTPError as exc:
            outcome.append((None, f"{type(exc).__name__}: {exc}"))
        except Exception as exc:  # a bug of ours: told as the attempt's failure
            outcome.append((None, f"{type(exc).__name__}: {exc}"))
        finally:
            done.set()

    threading.Thread(target=post, name=f"notify {item.target.shown} POST", daemon=True).start()
    if not done.wait(limit) or not outcome:
        return None, f"no answer within {item.target.timeout:g}s (its deadline passed)"
    return outcome[0]
