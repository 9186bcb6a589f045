"""The demo's own lines fitted to the terminal: prose wrapped between words at its indent
(`views.console.wrapped`, the one paragraph wrapping), and a command broken between its
words as a person types it (` \\` at each line's end)."""

from __future__ import annotations

from migrator.views.console import terminal_width, wrapped

__all__ = ["shell_lines", "terminal_width", "wrapped"]


def shell_lines(words: list[str], width: int, indent: str) -> str:
    """A command as a person would type it in a terminal of `width`: its words on lines
    that fit, each line but the last ending in ` \\`, continuations 4 spaces further in.
    The first word (`$ migrator`) is never split from the second, nor an option from
    its value (`--to unified_only`)."""
    groups: list[str] = []
    for word in words:
        option = bool(groups) and groups[-1].startswith("--") and " " not in groups[-1]
        if option and not word.startswith("-"):
            groups[-1] += " " + word
        else:
            groups.append(word)
    lines: list[str] = []
    line = indent + groups[0]
    for word in groups[1:]:
        if len(line) + 1 + len(word) + 2 <= width or line.strip() == groups[0]:
            line += " " + word
        else:
            lines.append(line + " \\")
            line = indent + "    " + word
    lines.append(line)
    return "".join(f"{text}\n" for text in lines)
