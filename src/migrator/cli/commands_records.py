"""Commands that read what happened: status, history, report, and the RLS audit."""

from __future__ import annotations

from typing import Any

import click

from migrator.cli.group import cli
from migrator.cli.options import (
    PLAN_ARG,
    context,
    note_dsn_password,
    output_option,
    reading_options,
)


@cli.command()
@click.argument("plan", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--watch",
    is_flag=True,
    help="Show it again every --interval seconds until no run is at work (exit 0; Ctrl-C "
    "stops watching with 130, not the run): redrawn in place on a terminal, printed again "
    "otherwise, one JSON document a line with --output json.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Seconds between two readings with --watch (default 1; only with --watch).",
)
@reading_options
def status(plan: str | None, watch: bool, interval: float | None, **options: Any) -> int:
    """The current phase, the lock holder, any run in progress or interrupted, the last runs.

    A run at work: its step, how long it has run, who runs it where; a backfill's rows
    done of the total, rate, time left, streams, last batch, a pause or a throttle; the
    sessions a lock wait waits for. An interrupted run: how far it got and the commands
    that settle it. Without PLAN: every plan the database knows, its phase and any open run.
    """
    from migrator import api

    if interval is not None and not watch:
        raise click.UsageError("--interval is the pace of --watch: give --watch too")
    return api.status(context(**options), plan, watch=watch, interval=interval or 1.0)


@cli.command()
@click.argument("run", type=click.IntRange(min=1), metavar="RUN")
@click.option(
    "--dsn",
    metavar="DSN",
    callback=note_dsn_password,
    help="The target database (as for the other commands).",
)
@click.option(
    "--output",
    type=click.Choice(["text", "html", "json"]),
    default="text",
    show_default=True,
    help="text: Markdown (rendered on a terminal); html: a standalone page that works "
    "offline, with the plan's phase diagram; json: one machine-readable document.",
)
def report(run: int, output: str, **options: Any) -> int:
    """RUN's evidence for a post-incident review (RUN: a run id from `migrator history`).

    Failures first: the checks that failed with their actual and expected values, the
    steps that failed and what was undone; then each check's actual value against the
    expected one, approvals and who gave them, each step's duration, attempts and SQL,
    and the timeline of every recorded event. text: Markdown, rendered on a terminal;
    html: a standalone page; json: the same as one document. Reads the audit trail
    only. Exits 2 when the database has no run RUN.
    """
    from migrator import api

    form = {"text": "markdown", "html": "html", "json": "json"}[output]
    ctx = context(output="json" if output == "json" else "text", **options)
    return api.report(ctx, run, form=form)  # type: ignore[arg-type]


@cli.command()
@PLAN_ARG
@click.option(
    "--verify",
    is_flag=True,
    help="Verify each run's hash chain and report every broken link (an event edited, "
    "missing, inserted or out of order). Exits 2 when a trail was edited.",
)
@reading_options
def history(plan: str, verify: bool, **options: Any) -> int:
    """Every run of PLAN and every event of each run (the audit trail).

    With --verify, each run's trail is verified too: intact, unchained (written before
    the chain began) or broken, with every broken link. Exits 2 when any is broken.
    """
    from migrator import api

    return api.history(context(**options), plan, verify=verify)


@cli.group()
def audit() -> None:
    """Audit the target database; read only, nothing is changed."""


@audit.command("rls")
@click.option(
    "--schema",
    "schemas",
    multiple=True,
    metavar="SCHEMA",
    help="Audit only this schema (repeatable); the schemas given are then the exposed "
    "ones. Default: every user schema, with public as the exposed one.",
)
@click.option(
    "--dsn",
    metavar="DSN",
    callback=note_dsn_password,
    help="The target database (as for the other commands).",
)
@output_option
def audit_rls(schemas: tuple[str, ...], **options: Any) -> int:
    """Find RLS holes: tables with RLS on and no policy, allow-all policies, exposed tables.

    Errors: tables with row level security on and no policy at all (IR-07's cause:
    every write by a role other than the owner is refused). Warnings: permissive
    policies whose USING or WITH CHECK is `true`, granted to anon, authenticated or
    public; tables in an exposed schema without row level security on which anon or
    authenticated holds SELECT, INSERT, UPDATE or DELETE.

    Reads the catalog only. Exits 0 when there is no error (warnings alone exit 0),
    1 when there is one, 2 for an unknown schema, 5 when the database cannot be reached.
    """
    from migrator.rls.holes import audit_rls as run_audit

    return run_audit(context(**options), list(schemas) or None)
