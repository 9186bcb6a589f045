"""`batch_time`: a batch size that adapts so that each batch takes about that long.

A batch holds the row locks it takes until it commits: the longer it runs, the longer
an application write of one of its rows waits. A fixed `batch_size` is right for one
table on one day; `batch_time` aims at a duration instead. After each batch the size
moves toward the one that would have taken `target` seconds at the rate that batch
ran (rows per second of its successful attempt, not its retries or pauses): a
multiplicative step, bounded (at most `MAX_GROWTH` times larger, `MAX_SHRINK` times
smaller at once) so that one odd batch (a cold cache, a checkpoint) cannot swing it far,
and with a dead band around the target so that it does not jitter. Growing faster than
shrinking would be wrong for the locks a batch holds, were the growth not bounded by the
rate measured too: a batch grows 8 times only when it ran 8 times too quick. So the walk
reaches its size within a handful of batches (docs/performance.md, "Live traffic"), and
a slow batch shrinks the next one up to 4 times. The first batch is small
(`FIRST_SIZE` rows at most): a statement with a cost per row that nobody measured
cannot hold its locks for seconds before the controller knows better.

The size stays between 1 and the ceiling: the step's `batch_size`, or the operator's
live batch size (`migrator batch-size`) while one is set. A pure class, fed the sizes
and timings of finished batches: no clock of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_SIZE = 10
MAX_GROWTH = 8.0  # the size at most 8 times larger from one batch to the next,
MAX_SHRINK = 4.0  # and at most 4 times smaller
DEAD_BAND = 0.15  # within 15% of the target: keep the size


@dataclass
class Pace:
    target: float  # seconds a batch should take
    size: int = FIRST_SIZE

    def next(self, ceiling: int) -> int:
        """The size of the next batch, at most `ceiling` (and the size kept from now on)."""
        self.size = max(1, min(self.size, ceiling))
        return self.size

    def observe(self, asked: int, rows: int, seconds: float, ceiling: int) -> int:
        """A batch asked for `asked` rows got `rows` and committed in `seconds`: the size
        from now on. A batch cut short (the walk's end, a range already done) that was
        quick says nothing about a larger one: the size stays."""
        if asked <= 0:
            return self.size
        if rows < asked and seconds < self.target:
            return self.size
        quick = seconds <= 0 or rows <= 0  # too quick to time: grow by the largest step
        ideal = asked * MAX_GROWTH if quick else rows * self.target / seconds
        ratio = ideal / asked
        if abs(seconds - self.target) <= DEAD_BAND * self.target:
            ratio = 1.0
        ratio = min(MAX_GROWTH, max(1 / MAX_SHRINK, ratio))
        self.size = max(1, min(ceiling, round(asked * ratio)))
        return self.size
