"""Where a backfill stands, exactly, when batches commit out of order.

The checkpoint's `position` is a JSON object:

    {"key": "41000"}                                    every key <= 41000 is done
    {"key": "41000", "done": [["45000", "50000"]]}      ... and so is (45000, 50000]
    {"key": "41000", "end": "90000", "written": 3120}   the walk ends at key 90000; the
                                                         statement wrote 3120 rows so far

`key` is the contiguous low-water mark (the exclusive `:lo` of the rest of the
walk); `done` lists the ranges `(lo, hi]` committed beyond it by faster streams
while a slower one still worked below them. Every batch merges its own range into
the position inside its own transaction, so the position is always exactly what
is committed. A walk that commits in order (one stream) never writes `done`: its
checkpoints are the format migrator always wrote, and that format reads as a
position without ranges.

Ranges handed out by one walk form a chain: each starts where the one before it
ended, and a resumed walk ends a batch exactly where a done range starts. So two
ranges touch exactly when one's `hi` is the other's `lo`, as text: merging needs no
comparison of keys. Adjacent ranges merge, so with N streams at most N - 1 ranges
ever stand beyond the mark (each gap below one is a batch still in flight).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Span = tuple[str, str]  # (lo, hi]: lo exclusive, hi inclusive, keys as text


@dataclass(frozen=True)
class Position:
    key: str
    done: tuple[Span, ...] = ()
    end: str | None = None  # the walk's last key; None: follow the table to its end
    written: int = 0  # rows the statement reported written, all batches together

    @classmethod
    def load(cls, value: Any) -> Position:
        if not isinstance(value, dict) or not isinstance(value.get("key"), str):
            raise ValueError(f"not a backfill position: {value!r}")
        done = tuple((str(lo), str(hi)) for lo, hi in value.get("done") or ())
        end = value.get("end")
        return cls(
            value["key"],
            done,
            str(end) if end is not None else None,
            int(value.get("written") or 0),
        )

    def dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        if self.done:
            out["done"] = [list(span) for span in self.done]
        if self.end is not None:
            out["end"] = self.end
        if self.written:
            out["written"] = self.written
        return out

    def add(self, lo: str, hi: str, written: int = 0) -> Position:
        """The position once `(lo, hi]`, a range of the walk's chain, is committed too,
        its statement having written `written` rows."""
        done = list(self.done)
        total = self.written + written
        if lo == self.key:
            key = hi
            while (after := next((s for s in done if s[0] == key), None)) is not None:
                done.remove(after)
                key = after[1]
            return Position(key, tuple(done), self.end, total)
        before = next((s for s in done if s[1] == lo), None)
        after = next((s for s in done if s[0] == hi), None)
        merged = (before[0] if before else lo, after[1] if after else hi)
        for touching in (before, after):
            if touching is not None:
                done.remove(touching)
        done.append(merged)
        return Position(self.key, tuple(done), self.end, total)


@dataclass(frozen=True)
class Batch:
    """A range of the walk handed to a stream: keys in (lo, hi], `rows` driving rows."""

    lo: str
    hi: str
    rows: int
    size: int = 0  # the batch size asked for (rows is fewer at the end or before a done range)


Probe = Callable[..., tuple[str, int] | None]
"""`probe(lo, size, upto[, last])`: the last key and rows of the batch after `lo` (see
walk.probe; `last`: `upto` is the walk's end)."""


class Planner:
    """Hands out the walk's batches in key order, from the mark, around ranges already done.

    `done` must be sorted in key order (the key column's order, see walk.in_key_order).
    A batch that would reach into a done range ends where that range starts; the walk
    then goes on after it. With an `end` the last batch ends there, and the walk with it.
    Whatever the batch size, no key is handed out twice and none is left out.
    """

    def __init__(self, position: Position, done_in_key_order: list[Span], probe: Probe) -> None:
        self.lo: str | None = position.key
        self.ahead = list(done_in_key_order)
        self.probe = probe
        self.end = position.end

    def next(self, size: int) -> Batch | None:
        if self.lo is None:
            return None
        while self.ahead and self.ahead[0][0] == self.lo:
            self.lo = self.ahead.pop(0)[1]  # done already: skip it
        if self.lo == self.end:
            self.lo = None  # the walk reached the key it ends at
            return None
        if self.ahead:
            found = self.probe(self.lo, size, self.ahead[0][0])
        elif self.end is not None:
            found = self.probe(self.lo, size, self.end, True)
        else:
            found = self.probe(self.lo, size, None)
        if found is None:
            self.lo = None  # the walk is over
            return None
        hi, rows = found
        batch = Batch(self.lo, hi, rows, size)
        self.lo = hi
        return batch
