"""What a run needs from outside it: the seam between the engine's parts and the world.

A `RunEnvironment` is all that one transition's run (`engine.transition`), a check
(`engine.checks`) and the dry run (`views.dryrun`) are given: the database to open
connections from, the plan, the plugins' registry and hooks, where news goes, the
secrets to mask, and the operator's options. The `Runner` builds one and hands it on;
nothing downstream sees the Runner itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection, Engine

from migrator.db.lockwait import DEFAULT_LOCK_TIMEOUT
from migrator.engine.progress import recorded_progress
from migrator.engine.stopping import StopAtOnce, StopRequest
from migrator.masking import Secrets
from migrator.plan.interpolate import secret_interpolation
from migrator.plan.model import Plan
from migrator.plugin.context import StepContext
from migrator.plugin.registry import Registry
from migrator.plugin.reporting import CommandInfo, ProgressReport
from migrator.views.console import Reporter
from migrator.views.progress import progress_for

if TYPE_CHECKING:
    from migrator.engine.operations import Operation


@dataclass
class RunOptions:
    """How runs behave: who runs them, and how questions are answered."""

    operator: str
    variables: dict[str, Any]
    assume_yes: bool = False
    interactive: bool = False
    force: bool = False
    skip: dict[str, str] = field(default_factory=dict)
    confirm: Callable[[str], bool] = field(default=lambda question: False)
    batch_size: int | None = None  # `resume --batch-size`: for the resumed run's backfill


class StepObserver(Protocol):
    """What watches each step of a run: a rehearsal's trace (`migrator.rehearse.trace`), and
    nothing else. Called before each attempt of a step, on the step's own connection inside
    its transaction once its work is done and before it commits (a step in a transaction
    only; in a savepoint), and once after the step is done for good (after its commit,
    outside its retries). An undo after a failure is not watched.

    What the observer raises is never the step's failure: the step goes on as if it were
    not watched, and the observer is told with `failed` (the stage: `before_step`,
    `in_transaction` or `after_step`, and the error's text)."""

    def before_step(self, op: Operation) -> None: ...

    def in_transaction(self, conn: Connection, op: Operation) -> None: ...

    def after_step(self, op: Operation) -> None: ...

    def failed(self, op: Operation, stage: str, reason: str) -> None: ...


@dataclass(frozen=True)
class RunEnvironment:
    """The database, the plan, the plugins, the reporter, the secrets and the options;
    `stop`: whether the operator asked the run to stop (SIGINT, SIGTERM)."""

    db: Engine
    plan: Plan
    registry: Registry
    hooks: Any  # the plugin manager's hook relay: `hooks.migrator_run_start(...)`
    reporter: Reporter
    options: RunOptions
    secrets: Secrets
    stop: StopRequest = field(default_factory=StopRequest)
    observer: StepObserver | None = None  # set by a rehearsal only: its trace
    # the command the runs belong to, told to the reporting hooks (`migrator_event`,
    # `migrator_progress`); None: nobody outside is told (a dry run, a rehearsal)
    command: CommandInfo | None = None

    def ask(self, question: str) -> bool:
        """Ask the operator (an approval, a manual step): a signal ends the question at once."""
        with self.stop.prompting():
            try:
                return self.options.confirm(question)
            except Exception:  # a prompt turns Ctrl-C into an error of its own (click: Abort)
                if self.stop.requested():
                    raise StopAtOnce from None
                raise

    def step_context(
        self,
        conn: Connection,
        run_id: int | None,
        *,
        dry_run: bool = False,
        step: str | None = None,
        owner: str | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        lock_retries: int = 3,
        retrying: Callable[[str, int, BaseException, float], None] | None = None,
        on_progress: Callable[[ProgressReport], None] | None = None,
    ) -> StepContext:
        """What an action or a check is given, on `conn`; values from `${env:...}` that it
        interpolates are masked from then on."""
        secrets = self.secrets
        variables = self.options.variables
        return StepContext(
            connection=conn,
            variables=variables,
            plan=self.plan.name,
            operator=self.options.operator,
            run_id=run_id,
            assume_yes=self.options.assume_yes,
            interactive=self.options.interactive,
            confirm=self.ask,
            say=self.reporter.say,
            interpolate=secret_interpolation(variables, secrets.add),
            plan_file=self.plan.file,
            dry_run=dry_run,
            db=self.db,
            step=step,
            force=self.options.force,
            progress=recorded_progress(
                progress_for(self.reporter),
                self.db,
                None if dry_run else run_id,
                step,
                on_progress,
            ),
            hooks=self.hooks,
            stop_requested=self.stop.requested,
            owner=owner,
            mask=secrets.mask,
            shorten=secrets.shorten,
            add_secret=secrets.add,
            lock_timeout=lock_timeout,
            lock_retries=lock_retries,
            **({"retrying": retrying} if retrying is not None else {}),
        )
