"""SQL text from plans: split into statements and bind `:name` parameters, never paste values.

A small lexer that knows PostgreSQL's quoting: '...' and E'...' strings,
"identifiers", $tag$ dollar quotes $tag$, -- and /* nested */ comments, and
`::` casts. Outside those, `:name` is a bound parameter; inside, it is text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


REPEATABLE_OPTION = "migrator_repeatable"
REPEATABLE: dict[str, Any] = {REPEATABLE_OPTION: True}
"""The execution options of a statement a step may send again with no harm (a read of the
catalog, the drop of a leftover it made itself): outside a transaction, a lock timeout
after it still lets the step be tried again. `conn.execute(text(sql).execution_options(
**REPEATABLE))`, `conn.exec_driver_sql(sql, execution_options=REPEATABLE)`."""


class SqlTextError(ValueError):
    """SQL that names a parameter no variable provides."""


@dataclass(frozen=True)
class Statement:
    """One statement: its text for a person, and what the driver receives."""

    text: str
    driver_sql: str
    params: tuple[str, ...]

    def bind(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        missing = [p for p in self.params if p not in variables]
        if missing:
            names = ", ".join(f":{m}" for m in missing)
            known = ", ".join(sorted(variables)) or "none"
            raise SqlTextError(f"no variable for {names} (known: {known})")
        return {p: variables[p] for p in self.params}


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs: kind is code, quoted, comment, param, or semicolon."""
    i, n = 0, len(sql)
    start = 0
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "-" and nxt == "-":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            yield "code", sql[start:i]
            yield "comment", sql[i:end]
            i = start = end
        elif ch == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            yield "code", sql[start:i]
            yield "comment", sql[i:j]
            i = start = j
        elif ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            yield "code", sql[start:i]
            yield "quoted", sql[i : j + 1]
            i = start = j + 1
        elif ch == '"':
            j = sql.find('"', i + 1)
            while j >= 0 and j + 1 < n and sql[j + 1] == '"':
                j = sql.find('"', j + 2)
            j = n - 1 if j < 0 else j
            yield "code", sql[start:i]
            yield "quoted", sql[i : j + 1]
            i = start = j + 1
        elif ch == "$" and (m := _DOLLAR_TAG.match(sql, i)) and not (i and _word(sql[i - 1])):
            tag = m.group(0)
            j = sql.find(tag, m.end())
            j = n if j < 0 else j + len(tag)
            yield "code", sql[start:i]
            yield "quoted", sql[i:j]
            i = start = j
        elif ch == ":" and nxt == ":":
            i += 2
        elif ch == ":" and (m := _NAME.match(sql, i + 1)) and not (i and sql[i - 1] == ":"):
            yield "code", sql[start:i]
            yield "param", m.group(0)
            i = start = m.end()
        elif ch == ";":
            yield "code", sql[start:i]
            yield "semicolon", ";"
            i = start = i + 1
        else:
            i += 1
    yield "code", sql[start:n]


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def statements(sql: str) -> list[Statement]:
    """Split `sql` into statements, each with its `:name` parameters in driver form.

    The driver form uses psycopg's `%(name)s` placeholders with every literal `%`
    doubled; it is always executed with a parameter mapping.
    """
    out: list[Statement] = []
    text: list[str] = []
    driver: list[str] = []
    params: list[str] = []
    meaningful = False

    def close() -> None:
        nonlocal text, driver, params, meaningful
        if meaningful:
            shown = "".join(text).strip()
            body = "".join(driver).strip()
            out.append(Statement(shown, body, tuple(dict.fromkeys(params))))
        text, driver, params, meaningful = [], [], [], False

    for kind, chunk in _tokens(sql):
        if kind == "semicolon":
            close()
            continue
        text.append(chunk if kind != "param" else f":{chunk}")
        if kind == "param":
            driver.append(f"%({chunk})s")
            params.append(chunk)
            meaningful = True
        else:
            driver.append(chunk.replace("%", "%%"))
            if kind != "comment" and chunk.strip():
                meaningful = True
    close()
    return out


GUARD_KEY = "migrator.check_guard"
"""The key of a check's guard in `connection.info` (`migrator.db.checksql.CheckGuard`)."""


def execute(connection: Any, sql: str, variables: Mapping[str, Any]) -> Any:
    """Run every statement of `sql` on a SQLAlchemy connection; variables bound, never pasted.

    Returns the result of the last statement. On a check's connection, the check's guard
    (kept in `connection.info`) sees every statement before it is sent and the session
    after it ran, and raises when the check may not go on.
    """
    result = None
    info = getattr(connection, "info", None)
    guard = info.get(GUARD_KEY) if isinstance(info, dict) else None
    for statement in statements(sql):
        if guard is not None:
            guard.before(statement)
        # One statement at a time, always with a parameter mapping (perhaps empty), so
        # the driver treats every `%` the same way: escaped as `%%` by the lexer.
        result = connection.exec_driver_sql(statement.driver_sql, statement.bind(variables))
        if guard is not None:
            guard.after(connection)
    return result


def fetch_rows(connection: Any, sql: str, variables: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of the last statement of `sql` (empty when it returns none)."""
    result = execute(connection, sql, variables)
    if result is None or not result.returns_rows:
        return []
    return list(result.all())
