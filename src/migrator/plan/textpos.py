"""Where a character of a YAML string is in the file's text: past the value's anchor and tag,
inside a literal block or a one-line scalar, and only where the file holds the string
character for character (`migrator.plan.source.SourceDocument.position_in`)."""

from __future__ import annotations


def content_start(lines: list[str], line: int, column: int) -> tuple[int, int] | None:
    """Where a node's content starts (0-based line and column), from where the node starts:
    past its anchor (`&name`) and tag (`!!str`), the spaces, comments and line breaks after
    them. None when the text is not there (a mark that is not in the document)."""
    while line < len(lines):
        text = lines[line]
        while column < len(text):
            char = text[column]
            if char in " \t":
                column += 1
            elif char in "&!":  # a property: up to the next space
                while column < len(text) and text[column] not in " \t":
                    column += 1
            elif char == "#" and (column == 0 or text[column - 1] in " \t"):
                column = len(text)
            else:
                return line, column
        line, column = line + 1, 0
    return None


def in_literal(
    lines: list[str], header: int, column: int, value: str, offset: int
) -> tuple[int, int] | None:
    """Character `offset` of a literal block whose `|` is at `header`, `column`: the
    row after the header and the column, 0-based; None unless the file's line holds the
    value's line, after the block's indentation.

    The indentation is read from the text (the first line with text, less the spaces the
    value keeps), which holds with an indentation indicator (`|2`) too.
    """
    if lines[header][column : column + 1] != "|":
        return None
    rows = value.split("\n")
    body = lines[header + 1 : header + 1 + len(rows)]
    indent = next(
        (len(text) - len(row) for row, text in zip(rows, body, strict=False) if row.strip(" ")),
        None,
    )
    row = value.count("\n", 0, offset)
    if indent is None or indent < 0 or row >= len(body):
        return None
    text = body[row]
    if text[:indent].strip(" ") or text[indent:] != rows[row]:
        return None
    return row + 1, indent + offset - (value.rfind("\n", 0, offset) + 1)


def in_one_line(
    text: str, column: int, style: str, value: str, offset: int
) -> tuple[int, int] | None:
    """Character `offset` of a scalar starting at `column` of `text` (its quote, for a quoted
    one): row 0 and the column, 0-based; None unless the line holds the value character for
    character (a plain scalar, or one quoted with no escape in it)."""
    if style:  # no quote inside (`''`, `\"`), no backslash in double quotes: no escape
        escapes = style + ("\\" if style == '"' else "")
        if text[column : column + 1] != style or any(char in value for char in escapes):
            return None
        column += 1
        if text[column + len(value) : column + len(value) + 1] != style:
            return None
    if text[column : column + len(value)] != value:
        return None
    return 0, column + offset
