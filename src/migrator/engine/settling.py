"""What settles a run that stopped short: the command an operator gives next, as the
run's messages and the reporting hooks (`RunEvent.settle`) name it."""

from __future__ import annotations

from migrator.engine.environment import RunEnvironment
from migrator.engine.runstate import RunState


def settled_by(plan_file: str, undoing: bool) -> str:
    """The commands that settle an interrupted run (`undoing`: stopped while it undid, or a
    rollback run: finishing it is all that is left)."""
    if undoing:
        return f"`migrator resume {plan_file}` or `migrator rollback {plan_file}` finishes it"
    return (
        f"`migrator resume {plan_file}` continues it, "
        f"`migrator rollback {plan_file}` undoes what it did"
    )


def settling_command(
    plan_file: str, command: str, target: str, state: RunState, undoing: bool, asked: bool
) -> str | None:
    """What settles a run of `command` left in `state`, or None when nothing waits on anyone
    (it succeeded, it was undone, it is under way; an approval given at once by `--yes`
    or declined at once with no terminal to ask on: `asked` is False)."""
    if state in (RunState.UNDO_FAILED, RunState.INTERRUPTED):
        return settled_by(plan_file, undoing)
    again = f"migrator {command} {plan_file}" + (f" --to {target}" if command == "apply" else "")
    if state == RunState.FAILED:
        return f"nothing was applied: `{again}` once the cause is fixed"
    if state == RunState.AWAITING_APPROVAL and asked:
        return f"answer at the terminal that runs it, or run `{again} --yes`"
    return None


def settle_of(env: RunEnvironment, target: str, state: RunState, undoing: bool) -> str | None:
    """What settles a run of `env`'s command (`apply` when none is told) left in `state`."""
    command, options = env.command, env.options
    return settling_command(
        env.plan.file,
        command.command if command is not None else "apply",
        target,
        state,
        undoing,
        asked=options.interactive and not options.assume_yes,
    )
