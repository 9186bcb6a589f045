"""The console-script entry point: the CLI run, its errors turned into their exit codes."""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Any, TextIO

import click

from migrator.cli.group import cli
from migrator.cli.options import fitted
from migrator.errors import ExitCode, MigratorError


def _printable_output() -> None:
    """Text that is not valid Unicode (a file name in bytes that are not UTF-8, which the
    shell passes as lone surrogates) is written escaped, never as an encoding traceback."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "surrogateescape"):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")


# Commands that change things: once stdout's reader is gone (`apply ... | head -1`) they go
# on to their end, their output dropped; every other command only reads and stops there.
_ACTING = frozenset(
    {
        "apply",
        "rollback",
        "resume",
        "rehearse",
        "demo",
        "pause",
        "continue",
        "unlock",
        "server",
        "fleet",
    }
)


class ReaderGone(Exception):
    """The reader of stdout (or stderr) went away: a closed pipe (`| head -1`)."""


class _Guarded:
    """A standard stream that a closed pipe never turns into a failure: at the first
    EPIPE the stream's descriptor is pointed at /dev/null (what was buffered, and the
    flush at exit, go nowhere, silently); then a reading command stops (`ReaderGone`:
    exit 0, no word) and an acting one goes on, its output dropped."""

    def __init__(self, stream: TextIO, keep_going: bool) -> None:
        self._stream = stream
        self._keep_going = keep_going
        self._gone = False

    def _closed(self) -> None:
        if not self._gone:
            self._gone = True
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):  # no descriptor (a test's capture): dropped here
                pass
        if not self._keep_going:
            raise ReaderGone

    def write(self, text: str) -> int:
        if self._gone:
            self._closed()
            return len(text)
        try:
            return self._stream.write(text)
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            self._closed()
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._gone:
            self._closed()
            return
        try:
            self._stream.flush()
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise
            self._closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _guarded(argv: list[str]) -> tuple[TextIO, TextIO]:
    """Put guards on stdout and stderr (for `argv`'s command); the streams they guard."""
    command = next((a for a in argv if not a.startswith("-")), "")
    streams = sys.stdout, sys.stderr
    sys.stdout = _Guarded(sys.stdout, command in _ACTING)  # type: ignore[assignment]
    sys.stderr = _Guarded(sys.stderr, command in _ACTING)  # type: ignore[assignment]
    return streams


_STOPPED = "stopped by SIGINT (Ctrl-C): no run was under way"


# A URL's password runs to the last `@` of the word (a password may hold one); a key=value
# password may be quoted, spaces and all.
_PASSWORDS = re.compile(
    r"(://[^:/@\s]*:)\S*@|(password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE
)


def _one_line(exc: BaseException) -> str:
    """An unexpected error in one line, without a password a DSN in it may hold."""
    text = " ".join(str(exc).split()) or "(no message)"
    text = _PASSWORDS.sub(lambda m: f"{m[1]}***@" if m[1] else f"{m[2]}***", text)
    return f"{type(exc).__name__}: {text[:500]}"


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and map errors to their exit codes."""
    _printable_output()
    args = argv if argv is not None else sys.argv[1:]
    streams = _guarded(args)
    try:
        return _main(argv, "--traceback" in args)
    except ReaderGone:  # a closed pipe: a reading command's reader has what it wanted
        return int(ExitCode.OK)
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str] | None, traceback: bool) -> int:
    try:
        result = cli.main(args=argv, prog_name="migrator", standalone_mode=False)
    except MigratorError as error:
        if traceback:
            raise
        click.echo(fitted(f"{error.label}: {error.message}", sys.stderr), err=True)
        return int(error.exit_code)
    except KeyboardInterrupt:  # Ctrl-C outside a run (a run turns it into RunStopped)
        click.echo(_STOPPED, err=True)
        return int(ExitCode.SIGINT)
    except click.exceptions.Abort as abort:
        if isinstance(abort.__cause__, KeyboardInterrupt):  # click's word for a Ctrl-C
            click.echo(_STOPPED, err=True)
            return int(ExitCode.SIGINT)
        click.echo("aborted", err=True)
        return int(ExitCode.INVALID)
    except click.ClickException as error:
        error.show()
        return int(ExitCode.INVALID)
    except click.exceptions.Exit as exit_:
        return int(exit_.exit_code)
    except ReaderGone:
        raise
    except Exception as exc:  # a bug: one line, never a traceback (unless asked for)
        if traceback:
            raise
        from migrator.db.failures import error_text, is_permission_denied

        if is_permission_denied(exc):  # the role's grants, not a bug
            message = f"error: {error_text(exc)} (the role lacks a privilege this command needs)"
            click.echo(fitted(message, sys.stderr), err=True)
            return int(ExitCode.INVALID)
        click.echo(
            f"error: internal error (a bug): {_one_line(exc)}; "
            "`--traceback` shows where it happened",
            err=True,
        )
        return int(ExitCode.INTERNAL)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)
