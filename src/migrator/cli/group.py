"""The `migrator` click group: the options every command shares come before the command."""

from __future__ import annotations

import click


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
    holds the plan's lock; 5 the database cannot be reached; 6 an internal error
    (the run is left interrupted); 130 / 143 stopped by SIGINT / SIGTERM at a safe
    point (the run is left interrupted, for resume or rollback).
    """
    ctx.obj = {"traceback": traceback}
