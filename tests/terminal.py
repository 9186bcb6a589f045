"""A program run in a real terminal of a given width, and the lines it drew there.

`in_terminal` starts a command on a pseudo-terminal whose window is COLUMNS x ROWS (so
rich sees a terminal of that size: colours, live progress bars, its own wrapping) and
reads everything it writes. `Screen` replays that output the way a terminal would, except
that it never wraps a line at the right margin: a line that reaches past the width is
recorded in `Screen.too_wide` (with its whole text, trailing spaces and all: a terminal
wraps those too, onto a line of its own), where a real terminal would have
broken it at the last column, mid-word, with no indent. Escape sequences (colours,
hyperlinks, the cursor moves and erasures of rich's live displays) are followed, so a
progress bar redrawn in place counts as the lines it drew, each time it drew them.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.cells import cell_len

_TOKEN = re.compile(
    r"\x1b\[(?P<csi>[0-?]*)[ -/]*(?P<final>[@-~])"  # CSI: colours, cursor, erase
    r"|\x1b\](?:[^\x07\x1b]|\x1b(?!\\))*(?:\x07|\x1b\\)"  # OSC: hyperlinks, titles
    r"|\x1b[()#][0-9A-Za-z]|\x1b[=>78DEM]"  # charsets, keypad, save/restore cursor
    r"|(?P<control>[\x00-\x1f\x7f])"
    r"|(?P<text>[^\x00-\x1f\x7f\x1b]+)",
    re.S,
)


@dataclass
class Screen:
    """The lines a terminal of `width` columns shows, and every line drawn wider."""

    width: int
    lines: list[str] = field(default_factory=lambda: [""])
    row: int = 0
    col: int = 0
    too_wide: list[str] = field(default_factory=list)
    _overflowing: set[int] = field(default_factory=set)

    def feed(self, text: str) -> None:
        for token in _TOKEN.finditer(text):
            if token["text"] is not None:
                self._write(token["text"])
            elif token["control"] is not None:
                self._control(token["control"])
            elif token["final"] is not None:
                self._csi(token["csi"], token["final"])
        # an escape sequence cut at the end of `text` is completed by the next feed: the
        # caller feeds whole reads, and `in_terminal` joins them before replaying.

    def close(self) -> None:
        """The end of the output: lines still too wide are recorded."""
        for row in sorted(self._overflowing):
            self.too_wide.append(self.lines[row])
        self._overflowing.clear()

    # -- what the output does -------------------------------------------------------------

    def _write(self, text: str) -> None:
        line = self.lines[self.row]
        cells = _cells(line)
        while len(cells) < self.col:
            cells.append(" ")
        for char in text:
            width = cell_len(char)
            if width == 0 and cells:
                cells[-1] += char  # a combining mark joins the character before it
                continue
            cells[self.col : self.col + width] = [char] + [""] * (width - 1)
            self.col += width
        self.lines[self.row] = "".join(cells)
        if self.col > self.width:
            self._overflowing.add(self.row)

    def _control(self, char: str) -> None:
        if char == "\r":
            self.col = 0
        elif char == "\n":  # as a terminal's output does by default (onlcr): to the next
            self._down(1)  # line's start
            self.col = 0
        elif char == "\b":
            self.col = max(0, self.col - 1)
        elif char == "\t":
            self._write(" " * (8 - self.col % 8))
        # BEL and the rest draw nothing

    def _csi(self, params: str, final: str) -> None:
        numbers = [int(p) if p.isdigit() else 0 for p in params.lstrip("?").split(";")]
        n = max(numbers[0], 1) if numbers else 1
        if final == "A":
            self.row = max(0, self.row - n)
        elif final == "B":
            self._down(n)
        elif final == "C":
            self.col += n
        elif final == "D":
            self.col = max(0, self.col - n)
        elif final == "G":
            self.col = n - 1
        elif final == "K":
            self._erase(numbers[0] if numbers else 0)
        elif final == "J" and numbers and numbers[0] in (2, 3):
            for row in range(len(self.lines)):
                self._forget(row)
                self.lines[row] = ""
        elif final in "mhlJsu":
            pass  # colours, modes (cursor shown or hidden), save/restore cursor
        else:
            raise ValueError(f"escape sequence ESC[{params}{final} is not understood here")

    def _down(self, n: int) -> None:
        self.row += n
        while len(self.lines) <= self.row:
            self.lines.append("")

    def _erase(self, how: int) -> None:
        self._forget(self.row)
        cells = _cells(self.lines[self.row])
        if how == 0:
            cells = cells[: self.col]
        elif how == 1:
            cells = [" "] * min(self.col + 1, len(cells)) + cells[self.col + 1 :]
        else:
            cells = []
        self.lines[self.row] = "".join(cells)

    def _forget(self, row: int) -> None:
        """A line about to be erased: recorded first if it was drawn too wide."""
        if row in self._overflowing:
            self.too_wide.append(self.lines[row])
            self._overflowing.discard(row)


def _cells(line: str) -> list[str]:
    """A line as one entry per cell (a wide character, then "")."""
    cells: list[str] = []
    for char in line:
        width = cell_len(char)
        if width == 0 and cells:
            cells[-1] += char
        else:
            cells.extend([char] + [""] * (width - 1))
    return cells


_BOX = re.compile(r"[\u2500-\u259f]")  # box drawing and blocks: rules, bars, borders


def unwrappable(line: str) -> bool:
    """Whether a line too wide is one word after its indent that is a path, a URL or a
    DSN (it holds a `/` or a `=`): nothing can wrap it without breaking what a person
    copies. Never a rule or box drawing, a run of one character, other text with no
    space (JSON, a list): those a program can break or size to the terminal; and never
    a line with trailing spaces (a terminal wraps them: a blank line of their own)."""
    words = line.split()
    if len(words) != 1 or line != line.rstrip():
        return False
    word = words[0]
    return ("/" in word or "=" in word) and not _BOX.search(word) and len(set(word)) > 1


@dataclass
class Drawn:
    """What a program drew in a terminal: its exit code, the screen, the raw output."""

    code: int
    screen: Screen
    output: str

    def too_wide(self) -> list[str]:
        """The lines drawn wider than the terminal, but for a single word too long."""
        return [line for line in self.screen.too_wide if not unwrappable(line)]


def in_terminal(
    argv: Sequence[str | Path],
    *,
    columns: int,
    rows: int = 40,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 300.0,
) -> Drawn:
    """Run `argv` with stdin, stdout and stderr on a pseudo-terminal of `columns` x `rows`;
    its exit code and everything it drew. Killed (and an AssertionError) at `timeout`."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = {
        **(env if env is not None else os.environ),
        "COLUMNS": str(columns),
        "LINES": str(rows),
        "TERM": "xterm-256color",
    }
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        environment.pop(name, None)
    proc = subprocess.Popen(
        [str(a) for a in argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment,
        cwd=cwd,
        start_new_session=True,
    )
    os.close(slave)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chunks: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{argv} did not end in {timeout:g} s:\n{''.join(chunks)}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(decoder.decode(data))
    finally:
        os.close(master)
    code = proc.wait(timeout=30)
    output = "".join(chunks) + decoder.decode(b"", final=True)
    screen = Screen(columns)
    screen.feed(output)
    screen.close()
    return Drawn(code, screen, output)
