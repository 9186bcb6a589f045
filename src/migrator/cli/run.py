"""The console-script entry point: the CLI run, its errors turned into their exit codes."""

from __future__ import annotations

import sys

import click

from migrator.cli.group import cli
from migrator.errors import ExitCode, MigratorError


def _printable_output() -> None:
    """Text that is not valid Unicode (a file name in bytes that are not UTF-8, which the
    shell passes as lone surrogates) is written escaped, never as an encoding traceback."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "surrogateescape"):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and map errors to their exit codes."""
    _printable_output()
    traceback = "--traceback" in (argv if argv is not None else sys.argv[1:])
    try:
        result = cli.main(args=argv, prog_name="migrator", standalone_mode=False)
    except MigratorError as error:
        if traceback:
            raise
        click.echo(f"error: {error.message}", err=True)
        return int(error.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return int(ExitCode.INVALID)
    except click.ClickException as error:
        error.show()
        return int(ExitCode.INVALID)
    except click.exceptions.Exit as exit_:
        return int(exit_.exit_code)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)
