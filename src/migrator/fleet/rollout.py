"""A wave of targets, `parallel` at a time: exit 4 and 5 tried again with a growing wait,
and the rollout halted once more than `max_failures` targets failed (the targets under way
finish; none starts after); and `Stopping`, the signals that stop a fleet command."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from migrator.errors import ExitCode
from migrator.fleet.model import Retry, WaveSpec
from migrator.fleet.targets import FleetTarget

RETRIED = frozenset({ExitCode.LOCKED, ExitCode.UNREACHABLE})
"""Exit codes worth another try: the plan's lock was held, the database did not answer."""
FAILED = frozenset(
    {ExitCode.CHECK_FAILED, ExitCode.INVALID, ExitCode.UNDO_FAILED, ExitCode.INTERNAL}
)
"""Exit codes that count against a wave's `max_failures` (SPEC: 1, 3 and 6; and 2, a
target its command refused: a plan blocked there, an unset variable)."""
STOPPED = frozenset({ExitCode.SIGINT, ExitCode.SIGTERM})
_KNOWN = frozenset(int(code) for code in ExitCode)


def settled(code: int) -> int:
    """A command's exit code as the fleet counts it: a process killed by SIGINT or
    SIGTERM (-2, -15) as stopped (130, 143); killed by another signal (-9: the OOM
    killer), or any code migrator never exits with, as an internal error (6)."""
    if code == -2:
        return ExitCode.SIGINT
    if code == -15:
        return ExitCode.SIGTERM
    return code if code in _KNOWN else ExitCode.INTERNAL


_PRIORITY = (
    ExitCode.UNDO_FAILED,
    ExitCode.INTERNAL,
    ExitCode.CHECK_FAILED,
    ExitCode.INVALID,
    ExitCode.UNREACHABLE,
    ExitCode.LOCKED,
    ExitCode.SIGINT,
    ExitCode.SIGTERM,
)


def fleet_exit_code(codes: Iterable[int | None]) -> ExitCode:
    """The fleet's exit code from its targets': 0 when all are 0, else the first of 3, 6, 1,
    2, 5, 4 that one of them has, then 130 or 143 (a target stopped by a signal: never 0
    while a run is left interrupted); a target not started, None, counts as nothing, a
    process killed by a signal as `settled` says."""
    found = {settled(int(c)) for c in codes if c is not None}
    for code in _PRIORITY:
        if code in found:
            return code
    return ExitCode.OK


@dataclass
class Outcome:
    """How one target of a wave ended: its last exit code (None: never started) and how
    many times its command ran."""

    target: FleetTarget
    code: int | None = None
    attempts: int = 0


Attempt = Callable[[FleetTarget, int], "int | None"]
"""Run the target's command once (its attempt number, from 1); its exit code (None: it
did not start, the rollout halted first)."""


class Halt:
    """Whether the rollout stops: a signal, or too many failures. Shared by all waves."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        """Set by a signal (or a bake, an approval): nothing new starts, waits end."""
        self.failures_exceeded = False
        self.reason = ""
        self.woken = threading.Event()
        """Set once the rollout halts, for either reason: a retry's wait ends with it."""

    @property
    def halted(self) -> bool:
        return self.stop.is_set() or self.failures_exceeded

    def request_stop(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.stop.set()
        self.woken.set()

    def exceed(self, reason: str) -> None:
        """Too many targets failed: no target starts after, nor tries again."""
        self.reason = self.reason or reason
        self.failures_exceeded = True
        self.woken.set()


def run_wave(
    wave: WaveSpec,
    targets: list[FleetTarget],
    attempt: Attempt,
    *,
    retry: Retry,
    halt: Halt,
    on_retry: Callable[[FleetTarget, int, float], None] | None = None,
    on_end: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run `attempt` for each target, `wave.parallel` at a time, in the targets' order.

    A target whose attempt ends with exit 4 or 5 is tried again after a wait (`retry`:
    doubling from `backoff` up to `longest`, `attempts` more times at most; a stop ends
    the wait). Once more than `wave.max_failures` targets ended failed, `halt` says so and
    no target starts after, nor tries again (a wait ends at once); those under way finish.
    Outcomes in the targets' order.
    """
    outcomes = [Outcome(t) for t in targets]
    counted = threading.Lock()
    failures = 0

    def one(outcome: Outcome) -> None:
        nonlocal failures
        if halt.halted:
            return
        target = outcome.target
        delay = retry.backoff
        while True:
            code = attempt(target, outcome.attempts + 1)
            if code is None:  # halted before it started: the last attempt's code stands
                break
            outcome.attempts += 1
            outcome.code = code
            retries_left = outcome.attempts <= retry.attempts
            if code not in RETRIED or not retries_left or halt.halted:
                break
            if on_retry is not None:
                on_retry(target, code, delay)
            if halt.woken.wait(delay) or halt.halted:  # a halt ends the wait: no new try
                break
            delay = min(delay * 2, retry.longest)
        if outcome.code is None:
            return  # never started: `not_started` at the rollout's end
        code = settled(outcome.code)
        if code in FAILED:
            with counted:
                failures += 1
                if failures > wave.max_failures and not halt.failures_exceeded:
                    halt.exceed(
                        f"wave {wave.name}: {failures} target(s) failed, more than its "
                        f"max_failures ({wave.max_failures})"
                    )
        elif code in STOPPED:
            halt.request_stop(f"target {target.name} was stopped by a signal")
        if on_end is not None:
            on_end(outcome)

    def guarded(outcome: Outcome) -> None:
        try:
            one(outcome)
        except BaseException as exc:  # a bug, or the ledger failing: nothing more starts
            halt.request_stop(f"target {outcome.target.name}: {type(exc).__name__}")
            raise

    with ThreadPoolExecutor(
        max_workers=wave.parallel, thread_name_prefix=f"wave-{wave.name}"
    ) as pool:
        for future in [pool.submit(guarded, o) for o in outcomes]:
            future.result()
    return outcomes


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopping:
    """SIGINT and SIGTERM during a fleet command, each given to `on_signal` (apply and
    rollback: stop starting targets, pass the stop on to each command under way; a
    command stops at once at its second); installed in the main thread only (a library
    caller's thread keeps its own handling). The exit code is the first signal's."""

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self.on_signal = on_signal
        self.signum: int | None = None
        self.count = 0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.SIGTERM if self.signum == signal.SIGTERM else ExitCode.SIGINT

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.signum = self.signum or signum
        self.on_signal(signum)

    @contextmanager
    def handling(self) -> Iterator[Stopping]:
        """The handlers installed (main thread only), the old ones put back after."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous: dict[signal.Signals, Any] = {}
        try:
            for signum in _SIGNALS:
                previous[signum] = signal.signal(signum, self._handle)
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
