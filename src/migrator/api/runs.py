"""The commands that move a plan or steer its run: apply, rollback, resume, pause,
continue, unlock, and the dry run of apply (`migrator plan`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.api.commandhooks import Told
from migrator.api.context import Context
from migrator.api.session import Session, default_target_phase, finish, open_session
from migrator.errors import ExitCode, InternalError, RunStopped, UsageError

if TYPE_CHECKING:
    from migrator.plan.model import Plan
    from migrator.state import RunRow
    from migrator.views.rehearsed import Rehearsal


def apply(ctx: Context, plan_path: str | Path, to: str | None = None) -> ExitCode:
    """Move the plan to phase `to`, transition by transition; undo a transition that fails."""
    with (
        open_session(ctx, plan_path, "apply") as session,
        _reported(ctx, session) as before,
    ):
        telling = _telling(session)
        target = default_target_phase(session.plan, to)
        code = session.runner(ctx, command=telling.info).apply(target)
        return telling.ended(_ended(ctx, session, code, before))


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
    with (
        open_session(ctx, plan_path, "rollback") as session,
        _reported(ctx, session) as before,
    ):
        telling = _telling(session)
        code = session.runner(ctx, command=telling.info).rollback()
        return telling.ended(_ended(ctx, session, code, before))


def resume(
    ctx: Context,
    plan_path: str | Path,
    skip: dict[str, str] | None = None,
    batch_size: int | None = None,
) -> ExitCode:
    """Continue an interrupted run from its last recorded step (or retry a failed undo).

    `batch_size` changes the batch size of the backfill being resumed.
    """
    with (
        open_session(ctx, plan_path, "resume") as session,
        _reported(ctx, session) as before,
    ):
        telling = _telling(session)
        runner = session.runner(ctx, skip, batch_size, command=telling.info)
        return telling.ended(_ended(ctx, session, runner.resume(), before))


def _telling(session: Session) -> Told:
    """The command told to the reporting hooks (opened with a command, it always is)."""
    assert session.telling is not None
    return session.telling


@contextmanager
def _reported(ctx: Context, session: Session) -> Iterator[str | None]:
    """The phase the plan is in before the command (None if it cannot be read); a run
    stopped by a signal or broken by a bug still ends with the line naming the phase
    and gives `--output json` its document (exit code, result, phase, events, and the
    message) before the error goes up."""
    before = _phase_and_run(session)[0]
    try:
        yield before
    except (RunStopped, InternalError) as error:
        with suppress(Exception):  # the database may be what broke
            _say_ended(session, error.exit_code, before)
        if ctx.output == "json":
            with suppress(Exception):
                finish(ctx, session, error.exit_code, error=error.message)
        raise


def _phase_and_run(session: Session) -> tuple[str | None, RunRow | None]:
    """The plan's phase and its newest run, read now (None, None: not readable)."""
    from migrator import state

    try:
        with session.db.connect() as conn:
            phase = state.current_phase(conn, session.plan.name, session.plan.initial_phase)
            runs = state.runs_of(conn, session.plan.name, limit=1)
    except Exception:  # the database may be what broke: the command says so itself
        return None, None
    return phase, runs[0] if runs else None


def _say_ended(session: Session, code: ExitCode, before: str | None) -> None:
    from migrator.views.console import ended_line

    phase, last = _phase_and_run(session)
    if phase is None:
        return
    text, style = ended_line(
        session.plan.name,
        before,
        phase,
        code,
        reason=last.error if last is not None else None,
        plan_file=str(session.plan.file),
    )
    session.reporter.say(text, style=style)


def _ended(ctx: Context, session: Session, code: ExitCode, before: str | None) -> ExitCode:
    """The command's last line: the plan's phase and what the exit code means."""
    _say_ended(session, code, before)
    return finish(ctx, session, code)


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
        if run_id is None:  # `continue` with no run live: the pause left set is cleared
            session.reporter.say(f"plan {name}: no run of it is live; its pause is cleared")
            return ExitCode.OK
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


def dry_run(
    ctx: Context,
    plan_path: str | Path,
    to: str | None = None,
    *,
    rehearsal: str | Path | None = None,
) -> ExitCode:
    """The path to `to`, every check, step and undo with its SQL, and today's pre-check results.

    Writes nothing: not even schema `migrator` is created. `ctx.output == "markdown"`: the
    same as a pull-request comment (`migrator.views.plan_markdown`), each step with its lint
    findings and, given `rehearsal` (a `rehearse --output json` document of this version of
    the plan), its locks and rewrites there.
    """
    from migrator.views.dryrun import dry_run_document, render_dry_run

    if rehearsal is not None and ctx.output != "markdown":
        raise UsageError("--rehearsal is shown by --output markdown only")
    with open_session(ctx, plan_path) as session:
        target = default_target_phase(session.plan, to)
        traced = _rehearsal_of(session.plan, rehearsal)
        document = dry_run_document(session.environment(ctx), target)
        if ctx.output == "json":
            ctx.emit_json(session.secrets.mask_data(document))
        elif ctx.output == "markdown":
            from migrator.views.plan_markdown import plan_markdown
            from migrator.views.runbook import runbook
            from migrator.views.values import visible

            book = runbook(session.plan, ctx.plugins(), traced)
            verdict = _verdict_of(rehearsal)
            text = plan_markdown(
                session.secrets.mask_data(document),
                session.secrets.mask_data(book),
                session.secrets.mask_data(verdict) if verdict is not None else None,
            )
            ctx.out.write(visible(session.secrets.mask(text), lines=True))
        else:
            render_dry_run(document, session.reporter)
    return ExitCode.OK


def _verdict_of(path: str | Path | None) -> dict[str, Any] | None:
    """The rehearsal document at `path` (read and fitted by `_rehearsal_of` already): its
    result and round trips, for the comment's verdict."""
    if path is None:
        return None
    import json

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def _rehearsal_of(plan: Plan, path: str | Path | None) -> Rehearsal | None:
    """The rehearsal document at `path`, of this very version of `plan` (else exit 2)."""
    if path is None:
        return None
    from migrator.views.rehearsed import check_fits, read_rehearsal

    found = read_rehearsal(path)
    check_fits(found, plan.name, plan.checksum, plan.file)
    return found
