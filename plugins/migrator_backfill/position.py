"""Where a backfill stands, exactly, when batches commit out of order.

The checkpoint's `position` is a JSON object:

    {"key": "41000"}                                    every key <= 41000 is done
    {"key": "41000", "done": [["45000", "50000"]]}      ... and so is (45000, 50000]

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

    @classmethod
    def load(cls, value: Any) -> Position:
        if not isinstance(value, dict) or not isinstance(value.get("key"), str):
            raise ValueError(f"not a backfill position: {value!r}")
        done = tuple((str(lo), str(hi)) for lo, hi in value.get("done") or ())
        return cls(value["key"], done)

    def dump(self) -> dict[str, Any]:
        if not self.done:
            return {"key": self.key}
        return {"key": self.key, "done": [list(span) for span in self.done]}

    def add(self, lo: str, hi: str) -> Position:
        """The position once `(lo, hi]`, a range of the walk's chain, is committed too."""
        done = list(self.done)
        if lo == self.key:
            key = hi
            while (after := next((s for s in done if s[0] == key), None)) is not None:
                done.remove(after)
                key = after[1]
            return Position(key, tuple(done))
        before = next((s for s in done if s[1] == lo), None)
        after = next((s for s in done if s[0] == hi), None)
        merged = (before[0] if before else lo, after[1] if after else hi)
        for touching in (before, after):
            if touching is not None:
                done.remove(touching)
        done.append(merged)
        return Position(self.key, tuple(done))


@dataclass(frozen=True)
class Batch:
    """A range of the walk handed to a stream: keys in (lo, hi], `rows` driving rows."""

    lo: str
    hi: str
    rows: int


Probe = Callable[[str, int, str | None], tuple[str, int] | None]
"""`probe(lo, size, upto)`: the last key and rows of the batch after `lo` (see walk.probe)."""


class Planner:
    """Hands out the walk's batches in key order, from the mark, around ranges already done.

    `done` must be sorted in key order (the key column's order, see walk.in_key_order).
    A batch that would reach into a done range ends where that range starts; the walk
    then goes on after it. Whatever the batch size, no key is handed out twice and
    none is left out.
    """

    def __init__(self, position: Position, done_in_key_order: list[Span], probe: Probe) -> None:
        self.lo: str | None = position.key
        self.ahead = list(done_in_key_order)
        self.probe = probe

    def next(self, size: int) -> Batch | None:
        if self.lo is None:
            return None
        while self.ahead and self.ahead[0][0] == self.lo:
            self.lo = self.ahead.pop(0)[1]  # done already: skip it
        upto = self.ahead[0][0] if self.ahead else None
        found = self.probe(self.lo, size, upto)
        if found is None:
            self.lo = None  # the walk is over
            return None
        hi, rows = found
        batch = Batch(self.lo, hi, rows)
        self.lo = hi
        return batch
