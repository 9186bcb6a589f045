"""The `migrator` command line: parse, call `migrator.api`, turn errors into exit codes.

Heavy modules (SQLAlchemy, pydantic models, plugins) are imported inside the
commands so that `migrator --help` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from migrator.errors import ExitCode, MigratorError

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
    """The options of every command that touches a database (the README's common options)."""
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
    from migrator.api import Context

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
    from migrator import api

    return api.validate(_context(output=output), plans)


@cli.command()
def schema() -> int:
    """Print the JSON Schema of the plan format (for editors and CI linters).

    The schema includes the action and check keys of every installed plugin. Point
    yaml-language-server at it with a `# yaml-language-server: $schema=FILE` line.
    """
    from migrator import api

    return api.schema(_context(output="json"))


@cli.command()
@output_option
def plugins(output: str) -> int:
    """List the loaded plugins, their versions and the action and check keys they provide."""
    from migrator import api

    return api.plugins(_context(output=output))


@cli.command()
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    type=click.Choice(["text", "html", "json"]),
    default="text",
    show_default=True,
    help="text: Markdown; html: a standalone page; json: the runbook as data.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Write each plan's runbook to DIR/<plan>.md (.html, .json) and its diagram to "
    "DIR/<plan>.mmd instead of printing it; takes several PLANS.",
)
def docs(plans: tuple[str, ...], output: str, out_dir: str | None) -> int:
    """PLANS as runbooks to follow and review: Markdown, a standalone page, or JSON.

    A runbook has the plan's summary, its phase diagram, each transition's risk and
    approval, the pre-checks with their SQL and expected values, the steps with their
    SQL and how each is undone, the rollback plan in reverse order, and the post-checks
    and soak windows as success criteria.

    Needs no database. The SQL is the plan's own, with its :name parameters; ${env:...}
    references are shown as written, never resolved. The docs of this repository's
    plans are regenerated with `migrator docs plans/*.yaml --out docs/plans`.
    """
    from migrator import api

    form = {"text": "markdown", "html": "html", "json": "json"}[output]
    return api.docs(_context(), plans, form=form, out_dir=out_dir)  # type: ignore[arg-type]


def _run_context(**kwargs: Any) -> Any:
    """A Context for commands that run plans: terminal prompts when there is a terminal."""
    log_format = kwargs.pop("log_format", None)
    ctx = _context(**kwargs)
    ctx.log_format = log_format
    ctx.interactive = sys.stdin.isatty()
    ctx.confirm = lambda question: click.confirm(question, default=False, err=True)
    return ctx


def run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--force",
        is_flag=True,
        help="Go on even if the plan file changed since the run being resumed or rolled back.",
    )(f)
    f = click.option(
        "--log-format",
        type=click.Choice(["json"]),
        help="Also write one structured JSON line per event to stderr.",
    )(f)
    return database_options(f)


PLAN_ARG = click.argument("plan", type=click.Path(dir_okay=False))


@cli.command()
@PLAN_ARG
@click.option("--to", "to", metavar="PHASE", help="The phase to reach (hotfix: default applied).")
@run_options
def apply(plan: str, to: str | None, **options: Any) -> int:
    """Move PLAN to PHASE, transition by transition.

    Each transition is one locked, recorded run: pre-checks (all of them), the
    approval gate, steps in order, post-checks. When a step or a post-check fails,
    the steps this run completed are undone in reverse order and the plan stays in
    the phase it started in (exit 1). An undo that fails exits 3 and blocks the
    plan until `resume` or `rollback` settles it.
    """
    from migrator import api

    return api.apply(_run_context(**options), plan, to)


@cli.command("plan")
@PLAN_ARG
@click.option("--to", "to", metavar="PHASE", help="The phase to reach (hotfix: default applied).")
@run_options
def plan_command(plan: str, to: str | None, **options: Any) -> int:
    """Dry run: the path to PHASE, every check, step and undo with its exact SQL.

    Pre-checks are evaluated in READ ONLY transactions, so you see which would
    fail today. Nothing is written to the database.
    """
    from migrator import api

    return api.dry_run(_run_context(**options), plan, to)


@cli.command()
@PLAN_ARG
@run_options
def rollback(plan: str, **options: Any) -> int:
    """Take the last completed transition back.

    Runs the plan's reverse transition if it has one; otherwise (and for a hotfix)
    undoes the last run's steps in reverse order. An interrupted run, or one whose
    undo failed, is undone instead.
    """
    from migrator import api

    return api.rollback(_run_context(**options), plan)


@cli.command()
@PLAN_ARG
@click.option("--skip", "skip", metavar="STEP", multiple=True, help="Skip this step (recorded).")
@click.option("--reason", metavar="TEXT", help="Why the --skip steps are skipped (required).")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    metavar="N",
    help="Go on with batches of N rows (the backfill being resumed).",
)
@run_options
def resume(
    plan: str,
    skip: tuple[str, ...],
    reason: str | None,
    batch_size: int | None,
    **options: Any,
) -> int:
    """Continue an interrupted run (killed process, lost connection) of PLAN.

    Pre-checks run again; steps continue after the last one recorded done. A run
    whose undo failed retries the undo instead.
    """
    from migrator import api

    if skip and not reason:
        raise click.UsageError("--skip needs --reason TEXT: the skip is recorded with it")
    skips = {name: reason or "" for name in skip}
    return api.resume(_run_context(**options), plan, skips, batch_size)


@cli.command()
@PLAN_ARG
@database_options
def pause(plan: str, **options: Any) -> int:
    """Hold PLAN's running backfill after its current batch (its transaction commits first).

    The run keeps its lock and waits; `migrator status` shows it paused.
    """
    from migrator import api

    return api.pause(_context(**options), plan)


@cli.command("continue")
@PLAN_ARG
@database_options
def continue_command(plan: str, **options: Any) -> int:
    """Release PLAN's paused backfill: it goes on with its next batch."""
    from migrator import api

    return api.continue_(_context(**options), plan)


@cli.command()
@PLAN_ARG
@database_options
def status(plan: str, **options: Any) -> int:
    """The current phase, the lock holder, any run in progress or interrupted, the last runs."""
    from migrator import api

    return api.status(_context(**options), plan)


@cli.command()
@PLAN_ARG
@click.option(
    "--dsn",
    metavar="DSN",
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

    return api.graph(_context(**options), plan)


@cli.command()
@click.argument("run", type=click.IntRange(min=1), metavar="RUN")
@click.option("--dsn", metavar="DSN", help="The target database (as for the other commands).")
@output_option
def report(run: int, **options: Any) -> int:
    """RUN's evidence for a post-incident review (RUN: a run id from `migrator history`).

    The timeline of every recorded event, each check's actual value against the
    expected one, approvals and who gave them, each step's duration, attempts and
    SQL, and what was undone. text: Markdown; json: the same as one document.
    Reads the audit trail only. Exits 2 when the database has no run RUN.
    """
    from migrator import api

    return api.report(_context(**options), run)


@cli.command()
@PLAN_ARG
@database_options
def history(plan: str, **options: Any) -> int:
    """Every run of PLAN and every event of each run (the audit trail)."""
    from migrator import api

    return api.history(_context(**options), plan)


@cli.command()
@PLAN_ARG
@click.option(
    "--sample",
    metavar="N|P%",
    help="Also copy N rows (or P percent) of each table's data. Default: the schema only.",
)
@click.option("--keep", is_flag=True, help="Keep the scratch database afterwards.")
@click.option(
    "--scratch-dsn",
    metavar="DSN",
    envvar="MIGRATOR_SCRATCH_DSN",
    help="The server to make the scratch database on. Default: $MIGRATOR_SCRATCH_DSN, "
    "else the embedded PostgreSQL.",
)
@click.option(
    "--pg-dump",
    metavar="PATH",
    help="The pg_dump that copies the schema. Default: the embedded PostgreSQL's.",
)
@database_options
def rehearse(
    plan: str,
    sample: str | None,
    keep: bool,
    scratch_dsn: str | None,
    pg_dump: str | None,
    **options: Any,
) -> int:
    """Walk every transition of PLAN forward, back and forward again on a scratch copy.

    The target's schema (pg_dump --schema-only; --sample copies some data too) is
    restored in a new database on the scratch server, with any role it names
    created there (NOLOGIN). The target is only read. From the phase the target is
    in, each transition goes forward, back (its reverse transition, or the undo of
    its steps) and forward again; the tables, columns, indexes, constraints,
    policies, RLS switches, functions, grants and flags after the way back must be
    as before, and after the forward again as after the forward. Approvals and
    manual steps are confirmed; http and command steps are not called; a check that
    does not pass on the copy is reported and does not stop the rehearsal.

    Exits 0 when every round trip is clean, 1 when an undo does not restore what
    its transition changed (the steps are named) or a leg fails on the copy.
    """
    from migrator import api

    return api.rehearse(
        _context(**options), plan, sample=sample, keep=keep, scratch_dsn=scratch_dsn,
        pg_dump=pg_dump,
    )  # fmt: skip


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
@click.option("--dsn", metavar="DSN", help="The target database (as for the other commands).")
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

    return run_audit(_context(**options), list(schemas) or None)


@cli.command()
@click.option(
    "--sessions",
    type=click.IntRange(min=100),
    default=10_000,
    show_default=True,
    help="Assessment sessions to generate.",
)
@click.option(
    "--keep", is_flag=True, help="Leave the scoring app running afterwards, for exploring."
)
@click.option(
    "--dsn",
    metavar="DSN",
    help="A server to tell it on instead of the embedded PostgreSQL (its database "
    "migrator_demo is dropped and created).",
)
def demo(sessions: int, keep: bool, dsn: str | None) -> int:
    """The whole story on the embedded PostgreSQL, in about a minute.

    Resets database migrator_demo: a Supabase-like scoring database in the IR-07
    broken state (profiles with RLS on and no policy). Starts the scoring app on
    127.0.0.1 with users finishing assessments, finds the cause with `audit rls`,
    applies IR-07, rebuilds the lost profiles with IR-08, moves scoring results
    legacy -> dual_write -> unified_only (a cutover with a broken parity fails and is
    undone on the way), then rolls back to dual_write and counts that no session was
    lost. Every step is the migrator command a person would type, shown with its
    output. The database stays until the next demo.
    """
    from migrator.demo.story import run_demo

    def run_cli(argv: list[str]) -> int:
        return main(argv)

    return run_demo(sys.stdout, run_cli, sessions=sessions, keep=keep, admin_dsn=dsn)


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


if __name__ == "__main__":
    sys.exit(main())
