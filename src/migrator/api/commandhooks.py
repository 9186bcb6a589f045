"""The reporting hooks around a command that runs a plan (`apply`, `rollback`, `resume`):
`migrator_command_start` once the plan is loaded, before the database is reached,
`migrator_command_end` with its exit code, and the `CommandInfo` its runs hand to
`migrator_event` and `migrator_progress`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from migrator.errors import ExitCode, MigratorError, UsageError
from migrator.plugin.manager import call_each
from migrator.plugin.reporting import CommandInfo

if TYPE_CHECKING:
    from migrator.api.context import Context
    from migrator.db.target import Target
    from migrator.masking import Secrets
    from migrator.plan import Plan
    from migrator.views.console import Reporter


class Opening(Protocol):
    """A plan being opened on its database (its engine not made yet, the database not
    reached: a command that cannot reach it is told too, with exit 5)."""

    @property
    def plan(self) -> Plan: ...
    @property
    def target(self) -> Target: ...
    @property
    def secrets(self) -> Secrets: ...
    @property
    def reporter(self) -> Reporter: ...


class Told:
    """A command under way, told to the plugins: its `info`, and the exit code it ends with."""

    def __init__(self, info: CommandInfo) -> None:
        self.info = info
        self.code: int | None = None

    def ended(self, code: ExitCode) -> ExitCode:
        """The command returns `code` (told to `migrator_command_end`)."""
        self.code = code
        return code


def command_info(ctx: Context, session: Opening, command: str) -> CommandInfo:
    """What the reporting hooks are told of `command` on `session`'s plan and database."""
    from migrator.plan.interpolate import secret_interpolation
    from migrator.plan.variables import resolve_variables

    secrets = session.secrets
    resolve = secret_interpolation(
        lambda: resolve_variables(session.plan, ctx.variables), secrets.add
    )
    where = _where(session.target.dsn)
    return CommandInfo(
        command=command,
        plan=session.plan.name,
        plan_file=str(session.plan.file),
        operator=ctx.operator,
        database=secrets.mask(where),
        settings=dict(session.plan.settings),
        options={name: ctx.plugin_options.get(name) for name in ctx.plugins().options},
        mask=secrets.mask,
        add_secret=secrets.add,
        interpolate=resolve,
    )


def _where(dsn: str) -> str:
    """`host:port/dbname` of `dsn` as libpq reads it (a socket folder for a host), or
    `the target database` when it cannot be read."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "the target database"
    host = str(parts.get("host") or "localhost").split(",")[0]
    port = str(parts.get("port") or "5432").split(",")[0]
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


@contextmanager
def told(ctx: Context, session: Opening, command: str) -> Iterator[Told]:
    """`migrator_command_start` now, `migrator_command_end` when the block ends, with the
    code given to `Told.ended` or the one of the error that ends it. A plugin's failure is
    a warning on the operator's stream; only a UsageError of `migrator_command_start` (an
    option's value it cannot use) stops the command (exit 2)."""
    telling = Told(command_info(ctx, session, command))
    hooks = ctx.manager().hook
    error: str | None = None
    try:
        _call(session, "migrator_command_start", hooks.migrator_command_start, command=telling.info)
        yield telling
    except MigratorError as failure:
        telling.code = int(failure.exit_code)
        error = session.secrets.mask(failure.message)
        raise
    except KeyboardInterrupt:
        telling.code = int(ExitCode.SIGINT)
        raise
    except BaseException as failure:
        telling.code = int(ExitCode.INTERNAL)
        error = session.secrets.mask(f"{type(failure).__name__}: {failure}")
        raise
    finally:
        _call(
            session,
            "migrator_command_end",
            hooks.migrator_command_end,
            command=telling.info,
            exit_code=int(telling.code if telling.code is not None else ExitCode.INTERNAL),
            error=error,
        )


def _call(session: Opening, name: str, hook: Any, **kwargs: Any) -> None:
    """Each plugin's `name` on its own: a failure is a warning naming the plugin; a
    UsageError of `migrator_command_start` stops the command once every plugin was told."""
    refused: list[UsageError] = []

    def failed(plugin: str, exc: Exception) -> None:  # a reporter's bug: not the run's
        if isinstance(exc, UsageError) and name == "migrator_command_start":
            refused.append(exc)
            return
        said = session.secrets.mask(f"{type(exc).__name__}: {exc}")
        session.reporter.say(f"warning: plugin {plugin}'s {name} failed: {said}", style="yellow")

    call_each(hook, failed, **kwargs)
    if refused:
        raise refused[0]
