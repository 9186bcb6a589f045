"""SQL text from plans: split into statements and bind `:name` parameters, never paste values.

A small lexer that knows PostgreSQL's quoting: '...' and E'...' strings,
"identifiers", $tag$ dollar quotes $tag$, -- and /* nested */ comments, and
`::` casts. Outside those, `:name` is a bound parameter; inside, it is text.
A `;` ends a statement where PostgreSQL's own lexer in psql says it does: not inside
parentheses (a rule's `DO ALSO (...; ...)`) nor inside a routine's `BEGIN ATOMIC ...
END` body (`_Depth`). tests/splitting.sql is the corpus the server checks it on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_DOLLAR_TAG = re.compile(r"\$([^\W\d]\w*)?\$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A bare word as PostgreSQL's lexer reads it (`$` may follow its first letter), or a number.
_IDENT = re.compile(r"[^\W\d][\w$]*|\d[\w.]*")


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
    """(kind, text) pairs: kind is code, quoted, comment, param, or semicolon.

    A `;` is a `semicolon` only where it ends a statement (see `_Depth`); inside
    parentheses or a BEGIN ATOMIC body it stays in the code.
    """
    i, n = 0, len(sql)
    start = 0
    depth = _Depth()
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
            j = _comment_end(sql, i)
            yield "code", sql[start:i]
            yield "comment", sql[i:j]
            i = start = j
        elif ch == "'":
            escapes = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _word(sql[i - 2]))
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
            depth.other("'")
            i = start = j + 1
        elif ch == '"':
            j = sql.find('"', i + 1)
            while j >= 0 and j + 1 < n and sql[j + 1] == '"':
                j = sql.find('"', j + 2)
            j = n - 1 if j < 0 else j
            yield "code", sql[start:i]
            yield "quoted", sql[i : j + 1]
            depth.other('"')
            i = start = j + 1
        elif ch == "$" and (m := _DOLLAR_TAG.match(sql, i)):
            tag = m.group(0)
            j = sql.find(tag, m.end())
            j = n if j < 0 else j + len(tag)
            yield "code", sql[start:i]
            yield "quoted", sql[i:j]
            depth.other("$")
            i = start = j
        elif ch == ":" and nxt == ":":
            depth.other("::")
            i += 2
        elif ch == ":" and (m := _NAME.match(sql, i + 1)) and not (i and sql[i - 1] == ":"):
            yield "code", sql[start:i]
            yield "param", m.group(0)
            depth.other(":")
            i = start = m.end()
        elif m := _IDENT.match(sql, i):
            # a whole identifier or number: `$` and digits inside one start nothing
            depth.word(m.group(0).lower(), lambda: _next_word(sql, m.end()))
            i = m.end()
        elif ch == ";" and depth.ends_statement():
            yield "code", sql[start:i]
            yield "semicolon", ";"
            depth = _Depth()
            i = start = i + 1
        else:
            if not ch.isspace():
                depth.other(ch)
            i += 1
    yield "code", sql[start:n]


class _Depth:
    """Where a `;` ends a statement, by PostgreSQL's rules (as psql's lexer,
    psqlscan.l, reads them): never inside parentheses (a rule's `DO ALSO (...; ...)`),
    nor inside the SQL-standard body of a routine, `CREATE [OR REPLACE] FUNCTION |
    PROCEDURE ... BEGIN ATOMIC ...; ...; END`, where a CASE ... END nests.

    psql counts every bare `begin` of such a statement; here only `BEGIN ATOMIC` opens a
    body (the only BEGIN the server's grammar takes there), and a keyword that is a name
    (after `.` or `AS`: `t.end`, `x as end`) counts for nothing, so a column or a
    function named begin does not swallow the statements after it.
    """

    def __init__(self) -> None:
        self.head: list[str] = []  # the statement's first words
        self.parens = 0
        self.body = 0  # BEGIN ATOMIC and CASE not yet closed by their END
        self.last = ""  # the last word or punctuation seen

    def ends_statement(self) -> bool:
        return self.parens == 0 and self.body == 0

    def other(self, token: str) -> None:
        if token == "(":
            self.parens += 1
        elif token == ")" and self.parens:
            self.parens -= 1
        self.last = token

    def word(self, word: str, following: Callable[[], str]) -> None:
        if len(self.head) < 4 and not word[0].isdigit():
            self.head.append(word)
        if self.parens == 0 and self.last not in (".", "as") and self._routine():
            opens = following() == "atomic" if word == "begin" else word == "case" and self.body
            if opens:
                self.body += 1
            elif word == "end" and self.body:
                self.body -= 1
        self.last = word

    def _routine(self) -> bool:
        head = self.head
        if head[:3] == ["create", "or", "replace"]:
            head = head[:1] + head[3:]
        return head[:1] == ["create"] and head[1:2] in (["function"], ["procedure"])


def _comment_end(sql: str, i: int) -> int:
    """Where the /* comment */ starting at `i` ends (comments nest)."""
    depth, j, n = 1, i + 2, len(sql)
    while j < n and depth:
        if sql.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif sql.startswith("*/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return j


def _next_word(sql: str, i: int) -> str:
    """The bare word after position `i`, past spaces and comments ("" if none)."""
    n = len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            i = _comment_end(sql, i)
        else:
            m = _IDENT.match(sql, i)
            return m.group(0).lower() if m else ""
    return ""


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def split(sql: str) -> list[str]:
    """`sql` cut where its statements end, the text kept whole: each piece ends with the
    `;` that ends its statement (but the last, which may hold only spaces and comments),
    and the pieces joined are `sql` again."""
    pieces: list[str] = []
    piece: list[str] = []
    for kind, chunk in _tokens(sql):
        piece.append(f":{chunk}" if kind == "param" else chunk)
        if kind == "semicolon":
            pieces.append("".join(piece))
            piece = []
    pieces.append("".join(piece))
    return [p for p in pieces if p] or [""]


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
