"""Expressions of a policy: whether a text is one SQL expression (before a memo's goes
into DDL), and an expression as written compared with the server's deparsed one."""

from __future__ import annotations

import re

_CAST = re.compile(r"::(text|name|character varying|varchar|jsonb|json|uuid)\b")


def normalize_expression(expression: str) -> str:
    """Compare a plan's expression with PostgreSQL's deparsed one: no casts of
    literals, no outer parentheses, single spaces."""
    text = _CAST.sub("", expression)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def _ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) >= 128


def one_expression(text: str) -> str | None:
    """Why `text` is not one SQL expression fit to go between parentheses, or None.

    Read as PostgreSQL reads it (with standard_conforming_strings on, which the undo
    sets): quoted strings and identifiers are skipped; outside them a `;`, a comment, a
    `$` or a backslash is refused (the server's own deparsed text never holds one), and
    the parentheses must balance without ever closing more than they opened, so the
    text cannot end the `USING (` it is placed in.
    """
    if not text.strip():
        return "it is empty"
    if "\0" in text:
        return "it holds NUL"
    depth, i, n = 0, 0, len(text)
    while i < n:
        ch, nxt = text[i], text[i + 1 : i + 2]
        if ch == "'":
            before = text[i - 1] if i else ""
            ahead = text[i - 2] if i > 1 else ""
            if before in ("e", "E") and ahead.isdigit():
                return "a string right after a number and an e is ambiguous"
            escapes = before in ("e", "E") and not (ahead and _ident_char(ahead))
            j = i + 1
            while j < n:
                pair = text[j : j + 2]
                if (escapes and text[j] == "\\") or pair == "''":
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            if j >= n:
                return "a quoted string is not closed"
            i = j + 1
        elif ch == '"':
            j = i + 1
            while (j := text.find('"', j)) >= 0 and text[j + 1 : j + 2] == '"':
                j += 2
            if j < 0:
                return "a quoted identifier is not closed"
            i = j + 1
        elif ch == ";":
            return "it holds a `;` outside quotes"
        elif (ch == "-" and nxt == "-") or (ch == "/" and nxt == "*"):
            return "it holds a comment"
        elif ch in "$\\":
            return f"it holds a `{ch}` outside quotes"
        elif ch == "(":
            depth += 1
            i += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "a `)` closes more than it opened"
            i += 1
        else:
            i += 1
    return "a `(` is not closed" if depth else None
