"""Secrets that must never be shown: DSN passwords and values read from `${env:...}`.

Every line printed and every event written to the audit trail passes through
`Secrets.mask`, whatever a plugin put in it. Text that is cut short goes through
`Secrets.shorten`: masked first, then cut, then any piece of a secret left at a cut edge
removed (a secret cut in two no longer matches the mask, so its first half would leak).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from migrator.nested import map_strings

MASK = "***"
ELLIPSIS = "…"


_KEY = 3
"""Forms are indexed by their first characters (every form has at least this many)."""
_SCANNED_KEYS = 32
"""Up to this many keys, a text is searched for each (fast in C); past it, the keys the
text holds are looked up one by one (its every 3-character piece, once)."""


@dataclass(frozen=True)
class _Index:
    """The forms in the order `mask` replaces them (longest first), by first characters."""

    ordered: tuple[str, ...]
    rank: dict[str, int]
    by_key: dict[str, tuple[str, ...]]


class Secrets:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._index: _Index | None = None  # built on use, dropped by `add`
        self._lock = threading.Lock()

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
        with self._lock:
            self._values.update(form for form in forms if len(form) >= _KEY)
            self._index = None

    def _indexed(self) -> _Index:
        index = self._index
        if index is not None:
            return index
        with self._lock:
            ordered = tuple(sorted(self._values, key=len, reverse=True))
            by_key: dict[str, list[str]] = {}
            for form in ordered:
                by_key.setdefault(form[:_KEY], []).append(form)
            index = _Index(
                ordered,
                {form: rank for rank, form in enumerate(ordered)},
                {key: tuple(forms) for key, forms in by_key.items()},
            )
            self._index = index
        return index

    def _present(self, text: str, index: _Index) -> list[str]:
        """The forms in `text`, in the order `mask` replaces them."""
        if not index.ordered:
            return []
        if len(index.by_key) <= _SCANNED_KEYS:
            keys: Iterable[str] = [key for key in index.by_key if key in text]
        else:
            pieces = {text[i : i + _KEY] for i in range(len(text) - _KEY + 1)}
            keys = pieces.intersection(index.by_key)
        found = {form for key in keys for form in index.by_key[key] if form in text}
        return sorted(found, key=index.rank.__getitem__)

    def __contains__(self, text: object) -> bool:
        """Whether `text` holds a secret (all of one)."""
        return isinstance(text, str) and bool(self._present(text, self._indexed()))

    def mask(self, text: str) -> str:
        """`text` with every secret's every form replaced by `***`, longest first.

        Only the forms the text holds are replaced (found by their first characters): its
        cost grows with them, not with all that are known. A form absent from the text
        stays absent as others are replaced, unless a replacement's `***` completes it: so
        after each replacement that changed the text, the forms after it are looked for
        again. The result is that of replacing every form, longest first."""
        index = self._indexed()
        pending = self._present(text, index)
        while pending:
            value = pending.pop(0)
            if value not in text:
                continue
            text = text.replace(value, MASK)
            rank = index.rank[value]
            pending = [form for form in self._present(text, index) if index.rank[form] > rank]
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
