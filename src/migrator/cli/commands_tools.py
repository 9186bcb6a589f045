"""Commands that try a plan or tell its story: rehearse on a scratch copy, and the demo."""

from __future__ import annotations

import sys
from typing import Any

import click

from migrator.cli.group import cli
from migrator.cli.options import PLAN_ARG, context, database_options, warn_dsn_password


@cli.command()
@PLAN_ARG
@click.option(
    "--sample",
    metavar="N|P%",
    help="Also copy N rows (or P percent) of each table's data. Default: the schema only.",
)
@click.option(
    "--sample-sql",
    metavar="PATH",
    help="Load sample rows of your own (a SQL file, run with psql in one transaction) into "
    "the copy after its schema, so that checks that need rows have them. Production rows "
    "are copied only with --sample.",
)
@click.option("--keep", is_flag=True, help="Keep the scratch database afterwards.")
@click.option(
    "--scratch-dsn",
    metavar="DSN",
    envvar="MIGRATOR_SCRATCH_DSN",
    help="The server to make the scratch database on, of the target's major or newer. "
    "Default: $MIGRATOR_SCRATCH_DSN, else the embedded PostgreSQL.",
)
@click.option(
    "--pg-dump",
    metavar="PATH",
    envvar="MIGRATOR_PG_DUMP",
    help="The pg_dump that copies the schema: of the target's major or newer, and not "
    "newer than the scratch server's. Default: $MIGRATOR_PG_DUMP, else the embedded "
    "PostgreSQL's.",
)
@database_options
def rehearse(
    plan: str,
    sample: str | None,
    sample_sql: str | None,
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

    Versions: the copy is made by a pg_dump at least as new as the target and
    restored on a server at least as new as that pg_dump (a dump is written for its
    own major: an older server cannot be trusted to read it). By default both are
    the embedded PostgreSQL's, the newest major, so any target up to it needs no
    option. A --scratch-dsn server older than the embedded pg_dump needs --pg-dump
    of a major between the target's and the scratch server's (the scratch server's
    own is the surest). Whatever does not fit is refused (exit 2) before anything is
    made, saying what to give; the output says which pg_dump and server were used.

    A transition that completed a step marked `rollback: irreversible`, and whose way
    back is the undo of its steps, goes forward only: it is reported irreversible by
    design, not as a failed round trip. --sample-sql loads rows of your own.

    Exits 0 when every round trip is clean or irreversible by design, 1 when an undo
    does not restore what its transition changed (the steps are named) or a leg fails
    on the copy.
    """
    from migrator import api

    return api.rehearse(
        context(**options), plan, sample=sample, sample_sql=sample_sql, keep=keep,
        scratch_dsn=scratch_dsn, pg_dump=pg_dump,
    )  # fmt: skip


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
    callback=warn_dsn_password,
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
    from migrator.cli.run import main
    from migrator.demo.story import run_demo

    def run_cli(argv: list[str]) -> int:
        return main(argv)

    return run_demo(sys.stdout, run_cli, sessions=sessions, keep=keep, admin_dsn=dsn)
