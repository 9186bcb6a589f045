"""Durations shown to people: how long something took, and a duration as a plan writes it."""

from __future__ import annotations

from typing import Any


def elapsed(seconds: Any) -> str:
    """How long something took: `12 ms` under a second, else `1.5 s`; "" when not a number."""
    if not isinstance(seconds, int | float):
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def as_written(seconds: float) -> str:
    """A configured duration the way a plan writes it: `5m`, `2h`, `30s`, `250ms`, `1.5s`."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size) == int(seconds / size):
            return f"{int(seconds / size)}{unit}"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
