"""Secrets that must never be shown: DSN passwords and values read from `${env:...}`.

Every line printed and every event written to the audit trail passes through
`Secrets.mask`, whatever a plugin put in it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from migrator.nested import map_strings

MASK = "***"


class Secrets:
    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 3:  # masking "a" everywhere would destroy every text
            self._values.add(value)
            encoded = quote(value, safe="")
            if encoded != value:
                self._values.add(encoded)

    def mask(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def mask_data(self, data: Any) -> Any:
        """The same structure with every string masked (keys included)."""
        return map_strings(data, self.mask, keys=True)
