"""Options and arguments the commands share, and the `Context` a command hands the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

OUTPUT = click.Choice(["text", "json"])


def parse_vars(
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
    "(ps, shell history): prefer MIGRATOR_DSN or a pgpass file (~/.pgpass, PGPASSFILE); "
    "validate reads only --dsn: give its DSN no password, and the password by a pgpass file "
    "or PGPASSWORD"
)


_PASSWORD_GIVEN = "migrator.dsn_password"


def _holds_password(value: str | None) -> bool:
    if not value:
        return False
    from migrator.db.target import Target, dsn_problem

    return dsn_problem(value) is not None or bool(Target(value, "--dsn").password)


def note_dsn_password(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """`--dsn`'s callback: remember that the DSN on the command line holds a password (or
    cannot be parsed, so may); the command warns once it knows where its lines go."""
    if _holds_password(value):
        ctx.meta[_PASSWORD_GIVEN] = True
    return value


def warn_dsn_password(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """`--dsn`'s callback for a command without a `Context` (demo): warn at once."""
    if _holds_password(value):
        click.echo(fitted(DSN_PASSWORD_WARNING, sys.stderr), err=True)
    return value


def fitted(text: str, stream: Any) -> str:
    """`text` as is, or, when `stream` is a terminal, each of its lines wrapped between
    words to the terminal's width (a word longer than the width stays whole)."""
    if not stream.isatty():
        return text
    from migrator.views.console import terminal_width, wrapped

    width = terminal_width(stream)
    return "".join(wrapped(line, width, "") for line in text.split("\n")).removesuffix("\n")


def _warn_once(log_format: str | None = None, output: str | None = None) -> None:
    """The warning of a password on the command line, one line where people read: stderr;
    stdout when stderr carries JSON log lines; nowhere when both carry JSON."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or not ctx.meta.pop(_PASSWORD_GIVEN, False):
        return
    if log_format != "json":
        click.echo(fitted(DSN_PASSWORD_WARNING, sys.stderr), err=True)
    elif output in (None, "text"):
        click.echo(fitted(DSN_PASSWORD_WARNING, sys.stdout))


def output_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--output",
        type=OUTPUT,
        default="text",
        show_default=True,
        help="text for people; json: one machine-readable document on stdout.",
    )(f)


_DSN = click.option(
    "--dsn",
    metavar="DSN",
    callback=note_dsn_password,
    help="The target database. Default: $MIGRATOR_DSN, else the file "
    "$MIGRATOR_DSN_FILE names, else $DATABASE_URL, else the embedded PostgreSQL in "
    ".migrator/pgdata.",
)
_VAR = click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    callback=parse_vars,
    help="Override a plan variable (repeatable).",
)
_YES = click.option(
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Confirm approval gates and manual steps without prompting.",
)
_OPERATOR = click.option(
    "--operator",
    metavar="NAME",
    help="Who runs this, for the audit trail. Default: the OS user.",
)


def _with(
    f: Callable[..., Any], options: list[Callable[[Callable[..., Any]], Callable[..., Any]]]
) -> Callable[..., Any]:
    for option in reversed(options):
        f = option(f)
    return f


def database_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every command that runs a plan's steps or checks (the README's
    common options): --dsn, --var, --yes, --operator, --output."""
    return _with(f, [_DSN, _VAR, _YES, _OPERATOR, output_option])


def reading_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a command that only reads the database (status, history): --dsn,
    --output. Nothing runs, so there is no variable to give, nothing to approve and
    nothing recorded under an operator's name."""
    return _with(f, [_DSN, output_option])


def control_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a command that acts on a run from outside it (pause, continue):
    --dsn, --operator (recorded as who did it), --output."""
    return _with(f, [_DSN, _OPERATOR, output_option])


def confirmed_control_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """`control_options` and --yes, for a control that asks first (unlock)."""
    return _with(f, [_DSN, _YES, _OPERATOR, output_option])


def context(**kwargs: Any) -> Any:
    from migrator.api import Context

    _warn_once()
    given = {k: v for k, v in kwargs.items() if v is not None}
    return Context(**given)


def run_context(**kwargs: Any) -> Any:
    """A Context for commands that run plans: terminal prompts when there is a terminal."""
    from migrator.cli.plugin_options import take_plugin_options

    plugins = take_plugin_options(kwargs)
    log_format = kwargs.pop("log_format", None)
    _warn_once(log_format, kwargs.get("output"))
    ctx = context(**kwargs, **plugins)
    ctx.log_format = log_format
    ctx.interactive = sys.stdin.isatty()
    ctx.confirm = lambda question: click.confirm(question, default=False, err=True)
    return ctx


def run_options(
    f: Callable[..., Any], *, output: Callable[..., Any] = output_option
) -> Callable[..., Any]:
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
    return _with(f, [_DSN, _VAR, _YES, _OPERATOR, output])


def dry_run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """`run_options` with `--output markdown` besides text and json (`migrator plan`)."""
    markdown = click.option(
        "--output",
        type=click.Choice(["text", "json", "markdown"]),
        default="text",
        show_default=True,
        help="text for people; json: one machine-readable document on stdout; markdown: the "
        "dry run as a pull-request comment (GitHub, GitLab) on stdout, its first line "
        "`<!-- migrator-plan: PLAN -->` for CI to find and edit the comment it posted.",
    )
    return run_options(f, output=markdown)


PLAN_ARG = click.argument("plan", type=click.Path(dir_okay=False))
