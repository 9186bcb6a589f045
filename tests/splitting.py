"""The cases of tests/splitting.sql, the corpus the SQL splitter is checked on: read by
tests/unit/test_sqltext.py (without a server) and tests/integration/test_splitting_server.py
(each piece sent to the server on its own)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).with_name("splitting.sql")
VARIABLES = {"v": "bound"}
"""The variables a case's `:name` parameters are bound to."""

_HEADER = re.compile(r"^-- case: (?P<name>.+)\n-- statements: (?P<count>\d+)\n", re.M)


@dataclass(frozen=True)
class Case:
    name: str
    statements: int
    sql: str


def cases() -> list[Case]:
    """Every case of the corpus, its SQL as written (with no space after its end)."""
    text = CORPUS.read_text()
    found = list(_HEADER.finditer(text))
    out = []
    for here, after in zip(found, [*found[1:], None], strict=True):
        end = after.start() if after else len(text)
        sql = text[here.end() : end].rstrip()
        out.append(Case(here["name"], int(here["count"]), sql))
    return out
