"""Commands that move a plan: apply, plan (its dry run), rollback, resume, pause, continue,
unlock."""

from __future__ import annotations

from typing import Any

import click

from migrator.cli.group import cli
from migrator.cli.options import (
    PLAN_ARG,
    confirmed_control_options,
    context,
    control_options,
    dry_run_options,
    run_context,
    run_options,
)
from migrator.cli.plugin_options import PluginOptionsCommand


@cli.command(cls=PluginOptionsCommand)
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

    return api.apply(run_context(**options), plan, to)


@cli.command("plan")
@PLAN_ARG
@click.option("--to", "to", metavar="PHASE", help="The phase to reach (hotfix: default applied).")
@click.option(
    "--rehearsal",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="With --output markdown: a `migrator rehearse PLAN --output json` document of this "
    "version of the plan; each step's locks and rewrites there are shown beside its SQL.",
)
@dry_run_options
def plan_command(plan: str, to: str | None, rehearsal: str | None, **options: Any) -> int:
    """Dry run: the path to PHASE, every check, step and undo with its exact SQL.

    Pre-checks are evaluated in READ ONLY transactions, so you see which would
    fail today. Nothing is written to the database.

    --output markdown prints the same as a pull-request comment (GitHub, GitLab):
    the path, each transition's risk and approval, the pre-checks as they stand
    today, each step's SQL, lint findings (FILE:LINE:COL), undo and, with
    --rehearsal FILE, the locks and rewrites the rehearsal saw; secrets masked.
    Its first line, `<!-- migrator-plan: PLAN -->`, lets a CI job find and edit
    the comment it posted before (docs/ci.md). Exit codes as the dry run's.
    """
    from migrator import api

    return api.dry_run(run_context(**options), plan, to, rehearsal=rehearsal)


@cli.command(cls=PluginOptionsCommand)
@PLAN_ARG
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show each undo with its SQL, naming any step that cannot be undone; change nothing.",
)
@run_options
def rollback(plan: str, dry_run: bool, **options: Any) -> int:
    """Take the last completed transition back.

    Runs the plan's reverse transition if it has one; otherwise (and for a hotfix)
    undoes the last run's steps in reverse order. An interrupted run, or one whose
    undo failed, is undone instead. A step marked `rollback: irreversible` that it
    would pass makes it refuse (exit 2), naming the step; `--force` goes on and
    records the step not undone. A reverse transition's approval is asked as apply
    asks it.
    """
    from migrator import api

    return api.rollback(run_context(**options), plan, dry_run)


@cli.command(cls=PluginOptionsCommand)
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
    return api.resume(run_context(**options), plan, skips, batch_size)


@cli.command()
@PLAN_ARG
@control_options
def pause(plan: str, **options: Any) -> int:
    """Hold PLAN's running backfill after its current batch (its transaction commits first).

    The run keeps its lock and waits; `migrator status` shows it paused. Refused (exit 2)
    when no backfill of PLAN is live.
    """
    from migrator import api

    return api.pause(context(**options), plan)


@cli.command("continue")
@PLAN_ARG
@control_options
def continue_command(plan: str, **options: Any) -> int:
    """Release PLAN's paused backfill: it goes on with its next batch.

    Refused (exit 2) when no backfill of PLAN is live.
    """
    from migrator import api

    return api.continue_(context(**options), plan)


@cli.command()
@PLAN_ARG
@click.option(
    "--run",
    "run_id",
    type=int,
    required=True,
    metavar="N",
    help="The live run whose process holds the lock (`migrator status` names it).",
)
@confirmed_control_options
def unlock(plan: str, run_id: int, **options: Any) -> int:
    """End the sessions of a frozen process that holds PLAN's lock for run N.

    For a process that neither works nor dies (stopped, hung, on a host out of reach):
    after confirmation (--yes skips it), every session of that process is ended, which
    frees the lock, and run N is recorded interrupted, with who unlocked it, for
    `resume` or `rollback` to settle. Refused (exit 2, nothing done) when run N is not
    live or the lock is not held for it.
    """
    from migrator import api

    return api.unlock(run_context(**options), plan, run_id)
