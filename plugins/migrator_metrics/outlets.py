"""Where the metrics go: a text file replaced atomically (for node_exporter's textfile
collector), and a Prometheus pushgateway, pushed to from a thread of its own: the run never
waits for a push, only the end of the command does, `TIMEOUT` at most."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from migrator_metrics.exposition import CONTENT_TYPE, grouping_path

TIMEOUT = 2.0  # seconds a push may take; the command's end waits for the last this long


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text`: a temporary file in the same folder (a name the textfile
    collector ignores: it reads `*.prom` only), written, synced, then renamed over it, so a
    reader sees the old file or the new one, never half of one."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # node_exporter runs as another user
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class Pusher:
    """Pushes the newest exposition to a pushgateway group (PUT: it replaces the group's
    metrics), one push at a time in a daemon thread; an exposition handed in while a push
    is under way replaces the one waiting (only the newest matters)."""

    def __init__(self, base: str, plan: str, where: str, timeout: float | None = None) -> None:
        """`base`: the gateway's URL (http or https, maybe with a path prefix and a user and
        password); `where`: the gateway as it may be shown (scheme://host:port)."""
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(base)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        self.url = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}" + grouping_path(
            "migrator", {"plan": plan}
        )
        self.headers = {"Content-Type": CONTENT_TYPE}
        if parts.username is not None:
            import base64

            user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
        self.where = where
        self.timeout = TIMEOUT if timeout is None else timeout
        self.problem: str | None = None  # the first push that failed, as a sentence
        self._cond = threading.Condition()
        self._pending: bytes | None = None
        self._queued = 0  # expositions handed in
        self._done = 0  # the last of them pushed or given up on
        self._thread: threading.Thread | None = None

    def push(self, body: bytes) -> int:
        """Hand `body` to the pushing thread; its number, for `wait`."""
        with self._cond:
            self._pending = body
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="migrator-pushgateway", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
            return self._queued

    def wait(self, number: int) -> bool:
        """Wait at most the timeout for push `number` (or a later one) to end; whether it did."""
        with self._cond:
            ended = self._cond.wait_for(lambda: self._done >= number, self.timeout)
        if not ended:
            self._failed(f"did not answer within {self.timeout:g} s")
        return ended

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None)
                body, number, self._pending = self._pending, self._queued, None
            assert body is not None
            try:
                self._send(body)
            except Exception as exc:  # down, refused, slow, a 500: a warning, never an error
                self._failed(_why(exc, self.timeout))
            with self._cond:
                self._done = number
                self._cond.notify_all()

    def _send(self, body: bytes) -> None:
        from urllib.request import Request, urlopen

        request = Request(self.url, data=body, method="PUT", headers=self.headers)
        with urlopen(request, timeout=self.timeout) as answer:
            answer.read()

    def _failed(self, why: str) -> None:
        with self._cond:
            if self.problem is None:
                self.problem = f"the pushgateway at {self.where} {why}: metrics not pushed"


def _why(exc: Exception, timeout: float) -> str:
    from urllib.error import HTTPError, URLError

    if isinstance(exc, HTTPError) and 300 <= exc.code < 400:
        return f"answered {exc.code} (a redirect, not followed: give the gateway's own URL)"
    if isinstance(exc, HTTPError):
        return f"answered {exc.code}"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc):
        return f"did not answer within {timeout:g} s"
    if isinstance(exc, URLError):
        return f"could not be reached ({exc.reason})"
    return f"could not be reached ({type(exc).__name__}: {exc})"
