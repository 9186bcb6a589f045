"""Values as values: what a check read, a step recorded or a plan expects, shown to a
person without Python's reprs (`0.724`, not `Decimal('0.724')`; a UUID as its text; a
time with its zone) and given to a script as plain JSON.

`plain` makes any value plain JSON data (what `--output json` and the audit trail
hold); `shown` is that value on one line for a person, cut to a width when it is
long (the whole of it stays in `--output json`).
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from migrator.views.durations import elapsed

ELLIPSIS = "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: Any) -> Any:
    """`value` as plain JSON data: a Decimal as the number it is (its text when a float
    would change it), a UUID as its text, a date or time in ISO 8601 (with its zone
    when it has one), bytes as `\\x` hex, a duration in seconds, a tuple or set as a
    list, mapping keys as text; any other object as its `str`."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((plain(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def _decimal(value: Decimal) -> int | float | str:
    if not value.is_finite():
        return str(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value.normalize() else str(value)


def shown(value: Any, width: int | None = None) -> str:
    """`value` on one line for a person: text as it is (no quotes), NULL for None,
    numbers and times as `plain` writes them, mappings and lists as compact JSON;
    cut to `width` characters with `…` when longer (None: never cut)."""
    data = plain(value)
    if data is None:
        line = "NULL"
    elif isinstance(data, str):
        line = data
    elif isinstance(data, bool):
        line = "true" if data else "false"
    elif isinstance(data, int | float):
        line = f"{data}"
    else:
        line = json.dumps(data, ensure_ascii=False, separators=(", ", ": "))
    line = line.replace("\r", "\\r").replace("\n", "\\n")
    return cut(visible(line), width)


def visible(text: str, lines: bool = False) -> str:
    """`text` safe to print on a terminal and readable: every control character (an
    escape sequence's ESC, BEL, a carriage return, C1 codes) written `\\xNN`, so that
    a value read from a database or a name in a plan can neither move the cursor, clear
    the screen, set the window's title nor hide the text after it. `lines`: keep line
    breaks and tabs (a paragraph of prose), else they are escaped too."""
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def cut(text: str, width: int | None) -> str:
    """`text` no longer than `width` characters, its end replaced by `…` when cut."""
    if width is None or len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS


def seconds(value: Any) -> str:
    """A duration in seconds as every view writes it (`elapsed`: `12 ms`, `1.5 s`)."""
    return elapsed(value)
