"""The commands that move a plan or steer its run: apply, rollback, resume, pause,
continue, unlock, and the dry run of apply (`migrator plan`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from migrator.api.context import Context
from migrator.api.session import Session, default_target_phase, finish, open_session
from migrator.errors import ExitCode, InternalError, RunStopped


def apply(ctx: Context, plan_path: str | Path, to: str | None = None) -> ExitCode:
    """Move the plan to phase `to`, transition by transition; undo a transition that fails."""
    with open_session(ctx, plan_path) as session, _reported(ctx, session):
        target = default_target_phase(session.plan, to)
        code = session.runner(ctx).apply(target)
        return finish(ctx, session, code)


def rollback(ctx: Context, plan_path: str | Path, dry_run: bool = False) -> ExitCode:
    """Take the last completed transition back (or undo an interrupted or failed run).

    A step it would pass without undoing it (`rollback: irreversible`) makes it refuse
    (UsageError, exit 2) unless `ctx.force`: the step is then recorded not undone.
    `dry_run`: show each undo with its SQL, naming the steps that cannot be undone;
    nothing is written.
    """
    if dry_run:
        from migrator.views.rollback_preview import render_rollback, rollback_document

        with open_session(ctx, plan_path) as session:
            document = rollback_document(session.environment(ctx))
            if ctx.output == "json":
                ctx.emit_json(session.secrets.mask_data(document))
            else:
                render_rollback(document, session.reporter)
            return ExitCode.OK
    with open_session(ctx, plan_path) as session, _reported(ctx, session):
        return finish(ctx, session, session.runner(ctx).rollback())


def resume(
    ctx: Context,
    plan_path: str | Path,
    skip: dict[str, str] | None = None,
    batch_size: int | None = None,
) -> ExitCode:
    """Continue an interrupted run from its last recorded step (or retry a failed undo).

    `batch_size` changes the batch size of the backfill being resumed.
    """
    with open_session(ctx, plan_path) as session, _reported(ctx, session):
        return finish(ctx, session, session.runner(ctx, skip, batch_size).resume())


@contextmanager
def _reported(ctx: Context, session: Session) -> Iterator[None]:
    """A run stopped by a signal or broken by a bug still gives `--output json` its
    document (exit code, result, phase, events, and the message) before the error goes up."""
    try:
        yield
    except (RunStopped, InternalError) as error:
        if ctx.output == "json":
            with suppress(Exception):  # the database may be what broke
                finish(ctx, session, error.exit_code, error=error.message)
        raise


def pause(ctx: Context, plan_path: str | Path) -> ExitCode:
    """Hold the plan's running backfill after its current batch (until `continue_`)."""
    return _hold(ctx, plan_path, paused=True)


def continue_(ctx: Context, plan_path: str | Path) -> ExitCode:
    """Release a paused backfill: it goes on with its next batch."""
    return _hold(ctx, plan_path, paused=False)


def _hold(ctx: Context, plan_path: str | Path, *, paused: bool) -> ExitCode:
    """Refuses (exit 2) when no backfill of the plan is live (`engine.controls.hold`)."""
    from migrator.engine.controls import hold

    with open_session(ctx, plan_path) as session:
        run_id = hold(session.db, session.plan, ctx.plugins(), ctx.operator, paused=paused)
        name = session.plan.name
        session.reporter.say(
            f"plan {name}: the backfill of run {run_id} holds after the current batch "
            f"(`migrator continue {plan_path}` releases it)"
            if paused
            else f"plan {name}: the backfill of run {run_id} goes on"
        )
    return ExitCode.OK


def unlock(ctx: Context, plan_path: str | Path, run_id: int) -> ExitCode:
    """End the sessions of the frozen process that holds the plan's lock for live run
    `run_id`, after confirmation (`ctx.assume_yes` skips it), and record the run
    interrupted, for `resume` or `rollback` to settle. Exit 2, nothing done, when the run
    is not live, the lock is not held for it, or the question is answered no.
    """
    from migrator.engine.controls import unlock as end_holder
    from migrator.errors import UsageError

    def confirm(question: str) -> bool:
        if ctx.assume_yes:
            return True
        if not ctx.interactive:
            raise UsageError(f"{question}: needs --yes or a terminal; nothing was done")
        return ctx.confirm(question)

    with open_session(ctx, plan_path) as session:
        done = end_holder(session.db, session.plan, run_id, ctx.operator, confirm)
        file = session.plan.file
        session.reporter.say(
            f"run {run_id} of plan {session.plan.name} is interrupted: ended the sessions "
            f"{', '.join(map(str, done.ended)) or '(none left)'} of its process "
            f"({done.holder.host}, pid {done.holder.pid}); settle it with "
            f"`migrator resume {file}` or `migrator rollback {file}`"
        )
        return finish(ctx, session, ExitCode.OK, run=run_id, sessions_ended=done.ended)


def dry_run(ctx: Context, plan_path: str | Path, to: str | None = None) -> ExitCode:
    """The path to `to`, every check, step and undo with its SQL, and today's pre-check results.

    Writes nothing: not even schema `migrator` is created.
    """
    from migrator.views.dryrun import dry_run_document, render_dry_run

    with open_session(ctx, plan_path) as session:
        target = default_target_phase(session.plan, to)
        document = dry_run_document(session.environment(ctx), target)
        if ctx.output == "json":
            ctx.emit_json(session.secrets.mask_data(document))
        else:
            render_dry_run(document, session.reporter)
    return ExitCode.OK
