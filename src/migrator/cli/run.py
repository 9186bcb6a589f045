"""The console-script entry point: the CLI run, its errors turned into their exit codes."""

from __future__ import annotations

import re
import sys

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
    traceback = "--traceback" in (argv if argv is not None else sys.argv[1:])
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
    except Exception as exc:  # a bug: one line, never a traceback (unless asked for)
        if traceback:
            raise
        click.echo(
            f"error: internal error (a bug): {_one_line(exc)}; "
            "`--traceback` shows where it happened",
            err=True,
        )
        return int(ExitCode.INTERNAL)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)
