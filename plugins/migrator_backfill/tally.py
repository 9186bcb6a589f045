"""What a backfill counts, and the line it ends with: rows walked and rows written apart.

Rows *walked* are the driving table's keys the batches covered; rows *written* are the
row counts the statement itself reported, batch by batch (an UPDATE that changed 450
of 180,614 rows walked wrote 450; an INSERT ... ON CONFLICT DO NOTHING writes the rows
that were not there yet). Both survive a resume: walked in the checkpoint's
`rows_done`, written in its position (see position.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migrator.plugin import elapsed


@dataclass
class Stats:
    parallel: int = 1
    rows: int = 0  # walked
    written: int = 0
    batches: int = 0
    failed_batches: int = 0
    retries: int = 0
    slowest: float = 0.0
    batch_seconds: float = 0.0
    smallest_batch: int = 0  # batch sizes asked for (they adapt under `batch_time`)
    largest_batch: int = 0

    def sized(self, size: int) -> None:
        self.smallest_batch = min(self.smallest_batch or size, size)
        self.largest_batch = max(self.largest_batch, size)

    def memo(self, seconds: float) -> dict[str, Any]:
        mean = self.batch_seconds / self.batches if self.batches else 0.0
        return {
            "rows_walked": self.rows,
            "rows_written": self.written,
            "batches": self.batches,
            "failed_batches": self.failed_batches,
            "retries": self.retries,
            "seconds": round(seconds, 3),
            "mean_batch_seconds": round(mean, 4),
            "slowest_batch_seconds": round(self.slowest, 4),
            "smallest_batch": self.smallest_batch,
            "largest_batch": self.largest_batch,
            "parallel": self.parallel,
        }


def summary(step: str, memo: dict[str, Any], stopped: bool = False) -> str:
    """The line a backfill ends with, naming its step once as its progress lines do
    (`copy: 20,000 rows walked, ...`), its durations as every view writes them. `failed`
    counts the batches given up on (a failed backfill stops at the first); `retries` the
    attempts redone after a transient error."""
    retries = f"{memo['retries']} {'retry' if memo['retries'] == 1 else 'retries'}"
    batches = f"{memo['batches']} {'batch' if memo['batches'] == 1 else 'batches'}"
    streams = f"; {memo['parallel']} parallel streams" if memo["parallel"] > 1 else ""
    if memo["smallest_batch"] != memo["largest_batch"]:
        streams = (
            f"; batches of {memo['smallest_batch']:,} to {memo['largest_batch']:,} rows" + streams
        )
    return (
        f"  {step}{' stopped' if stopped else ''}: {memo['rows_walked']:,} rows "
        f"walked, {memo['rows_written']:,} written, in {batches}, "
        f"{memo['failed_batches']} failed, {retries}, {elapsed(memo['seconds'])}; "
        f"mean batch {elapsed(memo['mean_batch_seconds'])}, "
        f"slowest {elapsed(memo['slowest_batch_seconds'])}{streams}"
    )
