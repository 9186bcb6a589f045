"""A plan opened on its database: the session a command on a database works in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.api.context import Context
from migrator.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from migrator.api.commandhooks import Told
    from migrator.db.target import Target
    from migrator.engine.environment import RunEnvironment
    from migrator.engine.runner import Runner
    from migrator.masking import Secrets
    from migrator.plan import Plan
    from migrator.plugin.reporting import CommandInfo
    from migrator.views.console import Reporter


@dataclass
class Session:
    """A plan opened on its database, with who sees what."""

    plan: Plan
    target: Target
    db: Engine
    secrets: Secrets
    reporter: Reporter
    telling: Told | None = None  # the reporting hooks' command (apply, rollback, resume)

    def runner(
        self,
        ctx: Context,
        skip: dict[str, str] | None = None,
        batch_size: int | None = None,
        command: CommandInfo | None = None,
    ) -> Runner:
        from migrator.engine.runner import Runner

        return Runner(self.environment(ctx, skip, batch_size, command))

    def environment(
        self,
        ctx: Context,
        skip: dict[str, str] | None = None,
        batch_size: int | None = None,
        command: CommandInfo | None = None,
    ) -> RunEnvironment:
        """What a run of this plan is given: its database, plugins, reporter, options;
        `command`: the command its runs are told to the reporting hooks as (None: none)."""
        from migrator.engine.environment import RunEnvironment, RunOptions
        from migrator.plan.variables import resolve_variables

        options = RunOptions(
            operator=ctx.operator,
            variables=resolve_variables(self.plan, ctx.variables),
            assume_yes=ctx.assume_yes,
            interactive=ctx.interactive,
            force=ctx.force,
            skip=dict(skip or {}),
            confirm=ctx.confirm,
            batch_size=batch_size,
        )
        return RunEnvironment(
            db=self.db,
            plan=self.plan,
            registry=ctx.plugins(),
            hooks=ctx.manager().hook,
            reporter=self.reporter,
            options=options,
            secrets=self.secrets,
            command=command,
        )


@dataclass
class _Opening:
    plan: Plan
    target: Target
    secrets: Secrets
    reporter: Reporter


@contextmanager
def open_session(
    ctx: Context, plan_path: str | Path, command: str | None = None
) -> Iterator[Session]:
    """Load the plan, reach its database (exit 5 if it cannot), and clean up afterwards;
    `command` (apply, rollback, resume): told to the reporting hooks from before the
    database is reached to the command's end (`Session.telling`)."""
    from migrator.api.commandhooks import told
    from migrator.db.target import connect_engine, resolve_target
    from migrator.masking import Secrets
    from migrator.plan import load_plan
    from migrator.views.console import Reporter

    plan = load_plan(plan_path, ctx.plugins())
    secrets = Secrets()
    reporter = Reporter(
        ctx.out, ctx.err, output=ctx.output, log_format=ctx.log_format, secrets=secrets
    )
    target = resolve_target(ctx.dsn, announce=lambda line: reporter.say(line, style="dim"))
    for secret in target.secrets():
        secrets.add(secret)
    with ExitStack() as stack:
        telling = None
        if command is not None:
            opening = _Opening(plan, target, secrets, reporter)
            telling = stack.enter_context(told(ctx, opening, command))
        db = connect_engine(target)
        try:
            yield Session(plan, target, db, secrets, reporter, telling)
        finally:
            db.dispose()


def finish(ctx: Context, session: Session, code: ExitCode, **extra: Any) -> ExitCode:
    if ctx.output == "json":
        from migrator import state

        with session.db.connect() as conn:
            phase = state.current_phase(conn, session.plan.name, session.plan.initial_phase)
        ctx.emit_json(
            session.secrets.mask_data(
                {
                    "plan": session.plan.name,
                    "exit_code": int(code),
                    "result": code.name.lower(),
                    "phase": phase,
                    **extra,
                    "events": session.reporter.events,
                }
            )
        )
    return code


def default_target_phase(plan: Plan, to: str | None) -> str:
    if to:
        return to
    if plan.kind == "hotfix":
        return "applied"
    raise UsageError(f"--to PHASE is required for a phased plan ({', '.join(plan.phases)})")
