"""The `migrator` command line: parse, call `migrator.api`, turn errors into exit codes.

Heavy modules (SQLAlchemy, pydantic models, plugins) are imported inside the
commands so that `migrator --help` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import ExitCode, MigratorError

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


def output_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--output",
        type=OUTPUT,
        default="text",
        show_default=True,
        help="text for people; json: one machine-readable document on stdout.",
    )(f)


def database_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every command that touches a database (SPEC.md's common options)."""
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "--dsn",
            metavar="DSN",
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


def _context(**kwargs: Any) -> Any:
    from .api import Context

    given = {k: v for k, v in kwargs.items() if v is not None}
    return Context(**given)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--traceback", is_flag=True, help="Show the full stack trace of an error.")
@click.version_option(package_name="migrator")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """Declarative, locked, recorded and undoable data migrations and hotfix runbooks.

    A plan (YAML) describes phases and the transitions between them, or a hotfix's
    pre-checks, steps and post-checks. migrator moves a plan from phase to phase
    on a PostgreSQL database, one recorded, locked, undoable run per transition.

    Exit codes: 0 done; 1 a check failed and the run was undone; 2 bad usage or an
    invalid plan; 3 undoing failed (manual intervention needed); 4 another run
    holds the plan's lock; 5 the database cannot be reached.
    """
    ctx.obj = {"traceback": traceback}


@cli.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_option
def validate(plans: tuple[str, ...], output: str) -> int:
    """Load and lint PLANS; print every problem as FILE:LINE:COL; change nothing.

    Exits 0 when every plan is valid (warnings allowed), 2 when any has an error.
    """
    from . import api

    return api.validate(_context(output=output), plans)


@cli.command()
def schema() -> int:
    """Print the JSON Schema of the plan format (for editors and CI linters).

    The schema includes the action and check keys of every installed plugin. Point
    yaml-language-server at it with a `# yaml-language-server: $schema=FILE` line.
    """
    from . import api

    return api.schema(_context(output="json"))


@cli.command()
@output_option
def plugins(output: str) -> int:
    """List the loaded plugins, their versions and the action and check keys they provide."""
    from . import api

    return api.plugins(_context(output=output))


@cli.command()
def demo() -> int:
    """The whole story on the embedded database (IR-07, IR-08, scoring-results phases).

    Coming soon: the demo lands with the demo issue.
    """
    click.echo("migrator demo: coming soon (it lands with the demo database and plans).")
    return int(ExitCode.OK)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and map errors to SPEC.md's exit codes."""
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


if __name__ == "__main__":
    sys.exit(main())
