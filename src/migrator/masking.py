"""Secrets that must never be shown: DSN passwords and values read from `${env:...}`.

Every line printed and every event written to the audit trail passes through
`Secrets.mask`, whatever a plugin put in it. Text that is cut short goes through
`Secrets.shorten`: masked first, then cut, then any piece of a secret left at a cut edge
removed (a secret cut in two no longer matches the mask, so its first half would leak).
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import quote

from migrator.nested import map_strings

MASK = "***"
ELLIPSIS = "…"


class Secrets:
    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        """Mask `value` from now on; and, for one that spans lines or spaces, each of its
        lines and its words joined by single spaces (text shown a line at a time, or on
        one line, still hides it)."""
        if not value or len(value) < 3:  # masking "a" everywhere would destroy every text
            return
        forms = {value, quote(value, safe=""), " ".join(value.split())}
        if "\n" in value or "\r" in value:
            forms.update(line.strip() for line in value.splitlines())
        # As it reads inside JSON or a repr (an HTTP answer echoing it, a Python error):
        # quotes and backslashes escaped, non-ASCII as \uXXXX or kept.
        forms.update(
            json.dumps(form, ensure_ascii=ascii)[1:-1]
            for form in list(forms)
            for ascii in (True, False)
        )
        forms.add(value.replace("\\", "\\\\"))
        self._values.update(form for form in forms if len(form) >= 3)

    def __contains__(self, text: object) -> bool:
        """Whether `text` holds a secret (all of one)."""
        return isinstance(text, str) and any(value in text for value in self._values)

    def mask(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def mask_data(self, data: Any) -> Any:
        """The same structure with every string masked (keys included)."""
        return map_strings(data, self.mask, keys=True)

    def shorten(
        self,
        text: str,
        limit: int,
        *,
        keep: Literal["head", "tail"] = "head",
        marker: str = ELLIPSIS,
        partial: bool = False,
    ) -> str:
        """`text` masked, then cut to at most `limit` characters (`marker` included, where
        the cut is), keeping its head or its tail; the start or end of a secret left at the
        cut edge is removed with the rest. `partial`: `text` is itself a piece of a longer
        text (read only in part), so its own edges are cut edges too."""
        text = self.mask(text)
        cut = len(text) > limit
        if cut:
            room = max(limit - len(marker), 0)
            text = text[:room] if keep == "head" else text[len(text) - room :]
        if partial or (cut and keep == "head"):
            text = self._drop_head_of_secret(text)
        if partial or (cut and keep == "tail"):
            text = self._drop_tail_of_secret(text)
        if not cut:
            return text
        return text + marker if keep == "head" else marker + text

    def _drop_head_of_secret(self, text: str) -> str:
        """`text` without its end when that end is the start of a secret."""
        longest = 0
        for value in self._values:
            for size in range(min(len(value) - 1, len(text)), longest, -1):
                if text.endswith(value[:size]):
                    longest = size
                    break
        return text[: len(text) - longest]

    def _drop_tail_of_secret(self, text: str) -> str:
        """`text` without its start when that start is the end of a secret."""
        longest = 0
        for value in self._values:
            for size in range(min(len(value) - 1, len(text)), longest, -1):
                if text.startswith(value[-size:]):
                    longest = size
                    break
        return text[longest:]
