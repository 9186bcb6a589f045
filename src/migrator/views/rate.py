"""One rate for a long step: rows per second over a recent window, and the time left
at that rate. The progress bar, the recorded progress and `migrator status` all use
it, so that the figure shown and the time left never disagree."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

WINDOW = 30.0
"""Seconds of samples the rate is computed over: recent enough to follow a throttle or
a pause, long enough not to jump with every batch."""

KEPT = 100
"""Samples closer than `window / KEPT` seconds apart are merged (the newer kept): at
most about KEPT + 2 samples, whatever the batch rate (each is written to the database
with the step's progress)."""


class RateWindow:
    """Samples of (time, rows done), kept for the last `window` seconds (and the one
    sample just before it, so that a slow step still has a span to measure).

    A pause shows as no new rows: the rate falls while it lasts, and recovers
    within `window` seconds after it; an average since the start would not.
    """

    def __init__(self, window: float = WINDOW, samples: Iterable[tuple[float, int]] = ()) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()
        for at, done in samples:
            self.add(at, done)

    def add(self, at: float, done: int) -> None:
        """`done` rows at time `at` (seconds, any monotonic clock the window keeps)."""
        if self.samples and at < self.samples[-1][0]:
            return  # a clock that went back: keep the samples in order
        if len(self.samples) >= 2 and at - self.samples[-2][0] < self.window / KEPT:
            self.samples[-1] = (at, done)  # close to the one before: it moves on instead
        else:
            self.samples.append((at, done))
        while len(self.samples) > 2 and self.samples[1][0] <= at - self.window:
            self.samples.popleft()

    def rate(self, now: float | None = None) -> float | None:
        """Rows per second from the last sample at or before the window's start (else
        the first) to `now` (default: the last sample): a pause, with no new samples,
        shows as a falling rate. None before there are two samples a moment apart."""
        if len(self.samples) < 2:
            return None
        last_at, last = self.samples[-1]
        end = last_at if now is None else max(now, last_at)
        base_at, base = self.samples[0]
        for at, done in self.samples:
            if at > end - self.window:
                break
            base_at, base = at, done
        if end - base_at <= 0:
            return None
        return max(last - base, 0) / (end - base_at)

    def seconds_left(self, total: int | None, done: int, now: float | None = None) -> float | None:
        """The time left to reach `total` at the window's rate; None when it cannot be
        told (no total, no rate yet, or no rows in the window: a pause)."""
        rate = self.rate(now)
        if total is None or not rate:
            return None
        return max(total - done, 0) / rate
