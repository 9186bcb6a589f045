"""`migrator server status | start | stop`: the embedded PostgreSQL of the current folder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from migrator.cli.group import cli
from migrator.cli.options import context


def _server_output(with_dsn: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    choices = ["text", "json", "dsn"] if with_dsn else ["text", "json"]
    dsn = ' dsn: the DSN alone, for `psql "$(...)"`.' if with_dsn else ""
    return click.option(
        "--output",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help=f"text for people; json: one machine-readable document on stdout.{dsn}",
    )


@cli.group()
def server() -> None:
    """The embedded PostgreSQL in .migrator/pgdata under the current folder.

    Every command given no --dsn (nor MIGRATOR_DSN, nor DATABASE_URL) starts it there
    on first use and leaves it running for the next one. It listens on a Unix socket
    only, with no password (trust, for this machine's users who can reach the socket).
    Reach it with psql (the package ships one: `migrator server status` shows the
    folder of its programs):

        psql "$(migrator server start --output dsn)"

    Exit codes: 0 done; 2 the data folder was made by another major version of
    PostgreSQL (the message says how to move it aside); 5 it cannot be started.
    """


@server.command("status")
@_server_output(with_dsn=True)
def server_status(output: str) -> int:
    """Its data folder, version, whether it runs (pid, DSN); starts nothing.

    A data folder made by another major version (an earlier migrator's PostgreSQL 16)
    is reported, with any server of that version still running there, exit 0.
    --output dsn prints the DSN alone, and exits 5 when no server runs.
    """
    from migrator import api

    return api.server_status(_context(output), dsn_only=output == "dsn")


@server.command("start")
@_server_output(with_dsn=True)
def server_start(output: str) -> int:
    """Start it (made on first use), or say that it already runs; print its DSN.

    Exits 2, touching nothing, when the data folder was made by another major version.
    """
    from migrator import api

    return api.server_start(_context(output), dsn_only=output == "dsn")


@server.command("stop")
@_server_output(with_dsn=False)
def server_stop(output: str) -> int:
    """Stop the server running on the data folder, whatever its version (a fast
    shutdown: its sessions are ended). Exits 0 also when none was running."""
    from migrator import api

    return api.server_stop(_context(output))


def _context(output: str) -> Any:
    return context(output="text" if output == "dsn" else output)
