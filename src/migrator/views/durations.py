"""Durations shown to people: how long something took, and a duration as a plan writes it."""

from __future__ import annotations

from typing import Any


def elapsed(seconds: Any) -> str:
    """How long something took, or is left: `12 ms` under a second, `1.5 s` under a
    minute, then `4 min 12 s`, then `2 h 05 min`; "" when not a number. The one
    duration format of every view."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def as_written(seconds: float) -> str:
    """A configured duration the way a plan writes it: `5m`, `2h`, `30s`, `250ms`, `1.5s`."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size) == int(seconds / size):
            return f"{int(seconds / size)}{unit}"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
