"""Expressions of a policy: whether a text is one SQL expression (before a memo's goes
into DDL), and whether a plan's expected expression is one (before the server reads it,
`compare.py`)."""

from __future__ import annotations

from migrator.plugin import sql_words


def _ident_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$" or ord(ch) >= 128


def _in_identifier(text: str, at: int) -> bool:
    """Whether the `$` at `at` continues an unquoted identifier (`a$b`), as PostgreSQL
    reads it, rather than opening a dollar quote or a `$1` parameter: the run of
    identifier characters before it begins with a letter, `_` or a non-ASCII one."""
    start = at
    while start > 0 and _ident_char(text[start - 1]):
        start -= 1
    first = text[start : start + 1]
    return start < at and (first.isalpha() or first == "_" or ord(first) >= 128)


def one_expression(text: str) -> str | None:
    """Why `text` is not one SQL expression fit to go between parentheses, or None.

    Read as PostgreSQL reads it (with standard_conforming_strings on, which the undo
    sets): quoted strings and identifiers are skipped; outside them a `;`, a comment, a
    `$` (but inside an identifier, `a$b`) or a backslash is refused (the server's own
    deparsed text never holds one), and the parentheses must balance without ever
    closing more than they opened, so the text cannot end the `USING (` it is placed in.
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
        elif ch == "$" and _in_identifier(text, i):
            i += 1
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


# Words that never stand outside parentheses in one expression: a query's own (a text
# `select 1 union select 2` read between parentheses would be a query, not an expression).
_QUERY_WORDS = {"union", "intersect", "except"}
_QUERY_START = {"select", "with", "values", "table"}
# A locking clause (FOR UPDATE, FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE) in a
# subselect: reading the expression would lock rows (a RowShareLock on the table).
_LOCKING = (("update",), ("no", "key", "update"), ("share",), ("key", "share"))


def expected_expression(text: str) -> str | None:
    """Why a plan's expected `using`/`with_check` is not one SQL expression, or None.

    `one_expression`, and more: read between the parentheses of a SELECT (as
    `compare.py` has the server read it), the text must be what `USING (...)` takes,
    one expression: no list (a `,` outside parentheses and brackets), no query (a text
    beginning with SELECT, WITH, VALUES or TABLE, or holding UNION, INTERSECT or EXCEPT
    outside parentheses), no plan variable (`:name`; a policy holds none), no locking
    clause (a subselect's FOR UPDATE or FOR SHARE: a policy's locks nothing, and the
    comparison must not).
    """
    problem = one_expression(text)
    if problem:
        return problem
    (tokens,) = sql_words(text)
    if tokens[0].kind == "word" and tokens[0].value in _QUERY_START:
        return f"it begins with {tokens[0].value.upper()}: a query, not an expression"
    words = [t.value if t.kind == "word" else "" for t in tokens]
    for at, word in enumerate(words):
        for clause in _LOCKING:
            if word == "for" and tuple(words[at + 1 : at + 1 + len(clause)]) == clause:
                named = " ".join(("for", *clause)).upper()
                return f"it holds a locking clause ({named}): it would lock rows"
    depth = 0
    for token in tokens:
        if token.kind == "other" and token.value.startswith(":"):
            return f"it holds the plan variable `{token.value}`: a policy holds none"
        if token.kind == "punct" and token.value in "([":
            depth += 1
        elif token.kind == "punct" and token.value in ")]":
            depth -= 1
        elif depth == 0 and token.kind == "punct" and token.value == ",":
            return "it is a list (a `,` outside parentheses), not one expression"
        elif depth == 0 and token.kind == "word" and token.value in _QUERY_WORDS:
            return f"it holds {token.value.upper()} outside parentheses: a query, not an expression"
    return None
