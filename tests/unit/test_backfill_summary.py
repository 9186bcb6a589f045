"""The backfill's summary line: the step named once, counts in words, the one duration format."""

from __future__ import annotations

from migrator_backfill.tally import Stats, summary


def test_one_batch_is_a_batch_and_the_durations_read_as_everywhere() -> None:
    stats = Stats()
    stats.sized(500)
    stats.rows, stats.written, stats.batches, stats.retries = 500, 46, 1, 1
    stats.batch_seconds = stats.slowest = 0.037
    line = summary("rebuild the missing profiles", stats.memo(75.5))
    assert line == (
        "  rebuild the missing profiles: 500 rows walked, 46 written, in 1 batch, 0 failed, "
        "1 retry, 1 min 16 s; mean batch 37 ms, slowest 37 ms"
    )


def test_many_batches_are_batches() -> None:
    stats = Stats()
    stats.sized(10)
    stats.sized(20)
    stats.batches, stats.rows = 3, 50
    line = summary("copy", stats.memo(2.0), stopped=True)
    assert line.startswith("  copy stopped: 50 rows walked, 0 written, in 3 batches, 0 failed")
    assert line.endswith("; batches of 10 to 20 rows")
