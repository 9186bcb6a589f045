"""What PostgreSQL can store: any data made fit for `jsonb` and `text`, whatever a plugin
or a program's output put in it.

`jsonb` and `text` refuse the NUL character, JSON refuses NaN, and a lone surrogate
(bytes that were not UTF-8, decoded with `surrogateescape`) is not Unicode. An audit
event that cannot be stored would leave a run half recorded, so every event passes
through here: first `json_data` (plain JSON types; anything else as its `str`), then
the secrets are masked (by the caller), then `storable` escapes what cannot be stored
and cuts each string longer than `MAX_CHARS`, saying how much was cut. Masking comes
before cutting, so a secret is never cut in two halves that no longer match.
"""

from __future__ import annotations

import json
import re
from typing import Any

from migrator.nested import map_strings

MAX_CHARS = 64 * 1024
"""The longest string an audit event keeps; the rest is cut, with a marker saying so."""

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def json_data(data: Any) -> Any:
    """`data` as plain JSON types (dict, list, str, int, float, bool, None): values as
    values (`migrator.views.values.plain`: a Decimal as its number, a UUID as its text, a
    time in ISO 8601 with its zone), tuples as lists, keys as strings, any other object
    as its `str`."""
    from migrator.views.values import plain

    return plain(data)


def storable_text(text: str, limit: int = MAX_CHARS) -> str:
    """`text` as `text` and `jsonb` hold it: NUL written `\\u0000`, a lone surrogate
    U+FFFD, and no longer than `limit` characters (plus the marker of what was cut)."""
    if _UNSTORABLE.search(text):
        text = _UNSTORABLE.sub(lambda m: "\\u0000" if m[0] == "\x00" else "\ufffd", text)
    if len(text) > limit:
        text = f"{text[:limit]}... [{len(text) - limit:,} more characters cut]"
    return text


def storable(data: Any) -> Any:
    """JSON data (see `json_data`) with every string, keys included, made storable."""
    return map_strings(data, storable_text, keys=True)


def storable_json(data: Any) -> str:
    """`data` (any mapping or value) as JSON text that `cast(... as jsonb)` accepts."""
    return json.dumps(storable(json_data(data)), allow_nan=False)  # json_data: finite floats
