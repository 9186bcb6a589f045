"""Stopping a run when the operator asks (SIGINT, SIGTERM): at a safe point, or at once.

While a command moves a plan, `StopRequest.handling()` installs handlers for SIGINT and
SIGTERM. The first signal only records the request: the statement, batch or program in
flight finishes (or rolls back) undisturbed, and the engine stops at the next safe point
it checks (before a step, a check, an undo; between a backfill's batches, which plugins
see as `ctx.stop_requested()`), raising `StopRequested`. A question to a person (an
approval, a manual step) is a safe point itself: the first signal ends it at once.

The second signal raises `StopAtOnce` (a `KeyboardInterrupt`) wherever the command is:
psycopg cancels the statement in flight (its transaction rolls back), a program the step
runs is killed. Either way the run is then recorded interrupted (`shielded()`: a signal
that comes while that is written waits for it to be written) and the command exits 130
(SIGINT) or 143 (SIGTERM). A third signal while the record is written ends the process
without it, as SIGKILL would; the run is then found interrupted by the next command.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

from migrator.errors import ExitCode
from migrator.plugin.context import StopRequested

__all__ = ["StopAtOnce", "StopRequest", "StopRequested"]

_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
_NAMES: dict[int, str] = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}
_CODES: dict[int, ExitCode] = {signal.SIGINT: ExitCode.SIGINT, signal.SIGTERM: ExitCode.SIGTERM}


class StopAtOnce(KeyboardInterrupt):
    """A second SIGINT or SIGTERM: stop where the command is (see the module's docstring)."""


class StopRequest:
    """Whether the operator asked the command to stop, by which signal, and how often."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._event = threading.Event()
        self._shielded = 0
        self._prompting = 0
        self._installed = False

    # -- asking -------------------------------------------------------------------------

    def requested(self) -> bool:
        """Whether a stop was asked for (a plugin's `ctx.stop_requested()`)."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a stop is asked for (at once if it was)."""
        return self._event.wait(seconds)

    def check(self, where: str) -> None:
        """A safe point: raise StopRequested if a stop was asked for (`where`: what was next)."""
        if self.requested():
            raise StopRequested(f"stopped before {where}")

    @property
    def exit_code(self) -> ExitCode:
        return _CODES.get(self.signum or signal.SIGINT, ExitCode.SIGINT)

    @property
    def name(self) -> str:
        return _NAMES.get(self.signum or signal.SIGINT, "SIGINT (Ctrl-C)")

    def request(self, signum: int = signal.SIGINT) -> None:
        """Ask for a stop as the first signal `signum` would (for a library caller)."""
        if self.signum is None:
            self.signum = signum
        self._event.set()

    # -- the signals --------------------------------------------------------------------

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            self.request(signum)
            if self._prompting:
                raise StopAtOnce
            again = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
            _tell(
                f"{self.name}: stopping at the next safe point, once the statement or batch "
                f"in flight is done ({again} again stops at once)"
            )
            return
        if self._shielded:
            if self.count >= 3:
                os._exit(int(self.exit_code))  # asked three times: gone, as SIGKILL would
            return
        if self.count == 2:
            _tell(f"{_NAMES.get(signum, 'a signal')} again: stopping at once")
            raise StopAtOnce
        os._exit(int(self.exit_code))

    @contextmanager
    def handling(self) -> Iterator[StopRequest]:
        """SIGINT and SIGTERM handled as this request's (in the main thread only: elsewhere,
        and when already handled, nothing changes)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous: dict[int, Any] = {}
        try:
            for signum in _SIGNALS:
                previous[signum] = signal.signal(signum, self._handle)
            self._installed = True
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._installed = False

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """While the stop is recorded: a second signal does not break into it."""
        self._shielded += 1
        try:
            yield
        finally:
            self._shielded -= 1

    @contextmanager
    def prompting(self) -> Iterator[None]:
        """While a person is asked a question: the first signal stops at once."""
        self._prompting += 1
        try:
            if self.requested():
                raise StopAtOnce
            yield
        finally:
            self._prompting -= 1


def _tell(line: str) -> None:
    """A line on stderr from a signal handler: written straight to the file descriptor, never
    through a Python stream that the interrupted code may be in the middle of writing."""
    with suppress(OSError):
        os.write(2, f"{line}\n".encode())
