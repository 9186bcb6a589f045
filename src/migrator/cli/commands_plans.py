"""Commands about plan files and plugins, without a database (but `graph`, which may read one)."""

from __future__ import annotations

from typing import Any

import click

from migrator.cli.group import cli
from migrator.cli.options import PLAN_ARG, context, note_dsn_password, output_option
from migrator.errors import UsageError


@cli.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    type=click.Choice(["text", "json", "github", "gitlab"]),
    default="text",
    show_default=True,
    help="text for people; json: one document on stdout (each lint finding with its rule); "
    "github: workflow annotations; gitlab: a Code Quality report.",
)
@click.option("--strict", is_flag=True, help="Warnings (lint findings) fail too: exit 2.")
@click.option(
    "--dsn",
    metavar="DSN",
    callback=note_dsn_password,
    help="Also read this database (only read, in a READ ONLY transaction): the rules that "
    "need the target (a backfill key without a unique index), and its PostgreSQL version "
    "for squawk. Only this option: validate reads no DSN from the environment.",
)
@click.option(
    "--no-squawk",
    is_flag=True,
    help="Leave squawk out (also: MIGRATOR_SQUAWK=off). By default squawk's rules run "
    "when its program is found ($MIGRATOR_SQUAWK, else squawk on PATH or beside Python).",
)
def validate(
    plans: tuple[str, ...], output: str, strict: bool, dsn: str | None, no_squawk: bool
) -> int:
    """Load and lint PLANS; print every problem as FILE:LINE:COL; change nothing.

    Exits 0 when every plan is valid (warnings allowed), 2 when any has an error, or a
    warning under --strict; 5 when --dsn names a database that cannot be reached.
    """
    from migrator import api

    if dsn is not None and not dsn.strip():  # a CI secret missing, as on a fork's build
        raise UsageError("--dsn is empty: give the target's DSN, or leave --dsn out")
    ci = output if output in ("github", "gitlab") else None
    ctx = context(output="json" if output == "gitlab" else "text" if ci else output, dsn=dsn)
    return api.validate(ctx, plans, strict=strict, ci=ci, squawk=not no_squawk)  # type: ignore[arg-type]


@cli.command()
def schema() -> int:
    """Print the JSON Schema of the plan format (for editors and CI linters).

    The schema includes the action and check keys of every installed plugin. Point
    yaml-language-server at it with a `# yaml-language-server: $schema=FILE` line.
    """
    from migrator import api

    return api.schema(context(output="json"))


@cli.command()
@output_option
def plugins(output: str) -> int:
    """List the loaded plugins, their versions and the action and check keys they provide."""
    from migrator import api

    return api.plugins(context(output=output))


@cli.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    type=click.Choice(["text", "markdown", "html", "json"]),
    default="text",
    show_default=True,
    help="text: Markdown (rendered on a terminal); markdown: the Markdown itself, never "
    "rendered, and without --out of several PLANS one document, each plan a section (a "
    "pull-request comment); html: a standalone page that works offline; json: the "
    "runbook as data.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Write each plan's runbook to DIR/<plan>.md (.html, .json) and its diagram to "
    "DIR/<plan>.mmd instead of printing it; takes several PLANS.",
)
@click.option(
    "--rehearsal",
    "rehearsals",
    multiple=True,
    metavar="FILE",
    help="A `migrator rehearse PLAN --output json` document: show each step's locks and "
    "rewrites from it beside its SQL (repeatable, one per plan; refused when it is of "
    "another plan or of another version of it).",
)
def docs(
    plans: tuple[str, ...], output: str, out_dir: str | None, rehearsals: tuple[str, ...]
) -> int:
    """PLANS as runbooks to follow and review: Markdown, a standalone page, or JSON.

    A runbook has the plan's summary, its phase diagram, each transition's risk and
    approval, the pre-checks with their SQL and expected values, the steps with their
    SQL and how each is undone, the rollback plan in reverse order, and the post-checks
    and soak windows as success criteria.

    Needs no database. The SQL is the plan's own, with its :name parameters; ${env:...}
    references are shown as written, never resolved. The docs of this repository's
    plans are regenerated with `migrator docs plans/*.yaml --out docs/plans`.

    Each step shows its lint findings (rule, line, reason: as `validate` prints them);
    with --rehearsal, what it did on the rehearsal's scratch copy ("takes ACCESS
    EXCLUSIVE on public.profiles; rewrites public.events").

    --output markdown prints the Markdown as it is; several PLANS make one document,
    each plan a section: `migrator docs --output markdown $(git diff --name-only
    origin/main -- plans/)` is the runbook of the plans a change touches, as one
    pull-request comment (docs/ci.md).
    """
    from migrator import api

    form = {"text": "markdown", "markdown": "markdown", "html": "html", "json": "json"}[output]
    return api.docs(
        context(),
        plans,
        form=form,  # type: ignore[arg-type]
        out_dir=out_dir,
        rehearsals=rehearsals,
        source=output == "markdown",
    )


@cli.command()
@PLAN_ARG
@click.option(
    "--dsn",
    metavar="DSN",
    callback=note_dsn_password,
    help="Highlight the phase PLAN is in on this database (only read). Default: "
    "$MIGRATOR_DSN, else $DATABASE_URL; without either no database is used.",
)
@output_option
def graph(plan: str, **options: Any) -> int:
    """PLAN's phases and transitions as a Mermaid state diagram.

    Each transition is labelled with its risk and whether it needs approval; the
    first phase is the initial state. With a database the current phase is
    highlighted. Without --dsn, $MIGRATOR_DSN or $DATABASE_URL the embedded
    PostgreSQL is not started for a diagram; a database that cannot be reached is
    said on stderr and the diagram is printed without a current phase (exit 0).
    """
    from migrator import api

    return api.graph(context(**options), plan)
