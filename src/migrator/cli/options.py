"""Options and arguments the commands share, and the `Context` a command hands the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

OUTPUT = click.Choice(["text", "json"])


def _parse_vars(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise click.BadParameter(f"'{item}': write NAME=VALUE, NAME a plain identifier")
        parsed[name.strip()] = value
    return parsed


DSN_PASSWORD_WARNING = (
    "warning: --dsn carries a password, which other users of this machine can read "
    "(ps, shell history): prefer MIGRATOR_DSN or a pgpass file (~/.pgpass, PGPASSFILE)"
)


def warn_dsn_password(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    """`--dsn`'s callback: one line on stderr when the DSN on the command line holds a
    password (never the DSN itself)."""
    if value:
        from migrator.db.target import Target, dsn_problem

        if dsn_problem(value) is not None or Target(value, "--dsn").password:
            click.echo(DSN_PASSWORD_WARNING, err=True)
    return value


def output_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--output",
        type=OUTPUT,
        default="text",
        show_default=True,
        help="text for people; json: one machine-readable document on stdout.",
    )(f)


def database_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every command that touches a database (the README's common options)."""
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "--dsn",
            metavar="DSN",
            callback=warn_dsn_password,
            help="The target database. Default: $MIGRATOR_DSN, else $DATABASE_URL, "
            "else the embedded PostgreSQL in .migrator/pgdata.",
        ),
        click.option(
            "--var",
            "variables",
            multiple=True,
            metavar="NAME=VALUE",
            callback=_parse_vars,
            help="Override a plan variable (repeatable).",
        ),
        click.option(
            "--yes",
            "assume_yes",
            is_flag=True,
            help="Confirm approval gates and manual steps without prompting.",
        ),
        click.option(
            "--operator",
            metavar="NAME",
            help="Who runs this, for the audit trail. Default: the OS user.",
        ),
        output_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def context(**kwargs: Any) -> Any:
    from migrator.api import Context

    given = {k: v for k, v in kwargs.items() if v is not None}
    return Context(**given)


def run_context(**kwargs: Any) -> Any:
    """A Context for commands that run plans: terminal prompts when there is a terminal."""
    log_format = kwargs.pop("log_format", None)
    ctx = context(**kwargs)
    ctx.log_format = log_format
    ctx.interactive = sys.stdin.isatty()
    ctx.confirm = lambda question: click.confirm(question, default=False, err=True)
    return ctx


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--force",
        is_flag=True,
        help="Go on even if the plan file changed since the run being resumed or rolled "
        "back; rollback: go past a step marked irreversible, recording it not undone.",
    )(f)
    f = click.option(
        "--log-format",
        type=click.Choice(["json"]),
        help="Also write one structured JSON line per event to stderr.",
    )(f)
    return database_options(f)


PLAN_ARG = click.argument("plan", type=click.Path(dir_okay=False))
