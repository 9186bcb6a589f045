"""What an action or a check receives when it runs: the plugin's view of a run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrator.db.lockwait import DEFAULT_LOCK_TIMEOUT
from migrator.masking import Secrets

if TYPE_CHECKING:
    from pluggy import HookRelay
    from sqlalchemy import Connection, Engine


@dataclass
class StepContext:
    """Everything a step needs at run time, and nothing of the engine's internals.

    `connection` is a SQLAlchemy `Connection` inside the run's transaction;
    `variables` are the plan's variables after `--var` overrides (bind them as
    `:name` parameters, never paste them into SQL); `confirm(text)` asks the
    operator (or answers yes under `--yes`) and returns whether they agreed;
    `say(text)` prints a line to the operator; `interpolate(text)` resolves
    `${name}` and `${env:NAME}` (values from the environment are then masked
    wherever they would be shown or recorded); `plan_file` is the plan's path
    (resolve relative paths against its folder); `hooks` is the plugin manager's
    hook relay, for a plugin that asks other plugins (`ctx.hooks.migrator_flag_store`).

    For steps that manage their own transactions (a backfill commits per batch):
    `db` is the SQLAlchemy `Engine` to open connections from, `step` the step's
    name (the key of its checkpoint, see `migrator.plugin.save_checkpoint`), `force` whether the
    operator passed `--force`, and `progress(total=, done=, description=,
    estimated=, written=, streams=)` returns a `Progress` to report rows as they are done
    (`written`: rows written so far, for a step that counts them apart from the rows it
    walks; `streams`: how many batches it runs at once). What it reports is shown to the
    operator and recorded for `migrator status` in another terminal.

    `stop_requested()` tells whether the operator asked the run to stop (SIGINT,
    SIGTERM). A step that runs long checks it at its safe points (a backfill between
    batches) and, once what is in flight is committed or rolled back, raises
    `StopRequested`: the step is left part way, the run interrupted, and `migrator
    resume` runs the step again (from its checkpoint).

    `mask(text)` hides every secret the run knows (DSN passwords, `${env:...}` values).
    `shorten(text, limit, keep="head"|"tail", partial=False)` is the one way to cut text
    short: it masks, cuts to `limit` characters (an ellipsis marks the cut), and removes
    any start or end of a secret left at the cut (`partial=True`: the text was itself read
    only in part, so both its edges are cuts). `add_secret(text)` makes a value the run
    found a secret from then on (a flag once set from `${env:...}`, read back later).

    `lock_timeout` (seconds) is how long each statement the step sends may wait for a
    lock, so that no application write queues behind it for longer: the engine sets it on
    the connection it gives; a step that opens connections of its own (a backfill's
    batches) sets it on each (`set_lock_timeout`), runs its work under `watch_locks` (a
    lock not granted in time then names its blockers, `LockNotGranted`) and tries again up
    to `lock_retries` times with growing pauses (`lock_pause`), calling
    `retrying(part, attempt, error, pause)` before each pause: that records the retry of
    that part of the step ("batch after key 41000") in the audit trail, with the blockers
    the error names, and tells the operator.

    `owner` is the token of this process's ownership of run `run_id`: pass it to
    `lock_checkpoint` in each transaction a step commits by itself, so that a process
    whose run was taken over by another (resumed or rolled back while it was cut off)
    commits nothing more.
    """

    connection: Connection
    variables: Mapping[str, Any]
    plan: str
    operator: str
    run_id: int | None = None
    dry_run: bool = False
    assume_yes: bool = False
    interactive: bool = False
    confirm: Callable[[str], bool] = field(default=lambda text: False)
    say: Callable[[str], None] = field(default=lambda text: None)
    interpolate: Callable[[str], str] = field(default=lambda text: text)
    plan_file: str | None = None
    hooks: HookRelay | None = None
    db: Engine | None = None
    step: str | None = None
    force: bool = False
    progress: Callable[..., Progress] = field(default=lambda **kwargs: Progress())
    stop_requested: Callable[[], bool] = field(default=lambda: False)
    owner: str | None = None
    mask: Callable[[str], str] = field(default=lambda text: text)
    shorten: Callable[..., str] = field(default=Secrets().shorten)
    add_secret: Callable[[str], None] = field(default=lambda text: None)
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    lock_retries: int = 3
    retrying: Callable[[str, int, BaseException, float], None] = field(
        default=lambda part, attempt, error, pause: None
    )


class StepError(Exception):
    """A step that failed, with what the audit trail should keep of it.

    Raise it from an action's `run` when the failure has evidence worth keeping (a
    command's output, an answer's body): `memo`, JSON-able, is recorded in the step's
    `failed` event beside the error. Any other exception fails the step just the same,
    with its message alone.
    """

    def __init__(self, message: str, memo: Any = None) -> None:
        super().__init__(message)
        self.memo = memo


class NotAsLeft(StepError):
    """An undo that found its object changed since its step left it, and changed nothing.

    Raise it from an `undo` that checks its object first (a policy, a flag, a table's row
    level security): `what` names the object, each of `differences` says what is not as
    the step left it, in words ("using is `true`, the step left `(owner = auth.uid())`").
    The undo fails (exit 3) instead of overwriting a change someone else made; the
    differences are kept in the audit trail.
    """

    def __init__(self, what: str, differences: list[str]) -> None:
        super().__init__(
            f"{what} is not as its step left it: {'; '.join(differences)}; "
            "the undo changed nothing",
            memo={"object": what, "differences": differences},
        )
        self.what = what
        self.differences = differences


class StopRequested(BaseException):
    """The operator asked the run to stop, and it stopped at a safe point.

    Raised by the engine, and by an action that checks `ctx.stop_requested()`: it is not
    a failure (nothing is undone); the run is left interrupted for `migrator resume` or
    `migrator rollback`. A `BaseException`, like `KeyboardInterrupt`, so that no `except
    Exception` on the way mistakes it for an error.
    """


class Progress:
    """Where a long step reports how far it got (a bar on a terminal, lines otherwise)."""

    def advance(self, rows: int, written: int | None = None) -> None:
        """`rows` more are done; `written`: of which the step's statement wrote this many
        (a backfill counts the rows it walks and the rows it writes apart)."""

    def status(self, text: str) -> None:
        """A word on what it is doing now (paused, waiting for the database)."""

    def close(self) -> None:
        """The step is over: remove the bar."""


CheckContext = StepContext
"""Checks see the same context as steps (a read-only transaction in a dry run)."""


@dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict, with the actual value beside the expected one.

    `detail` says in words why it failed (or what to know of a pass). `differences`,
    optional, is the difference as data, for a check that compares rows, columns in
    lists so that they keep the query's order through the audit trail's jsonb: each item
    `{"key": [{"name": column, "value": v}, ...], "columns": [{"name": column,
    "actual": a, "expected": e}, ...]}` for a row found on both sides that differs in
    some columns (paired by its key), or `{"only_in": "query" | "equals_query", "key":
    [...], "row": [{"name": column, "value": v}, ...]}` for a row found on one side
    only (its key, and the rest of it). It is kept in the check's event (and `--output
    json`), so keep each value short (`shorten`), and shown a line per item under a
    failed check.
    """

    passed: bool
    actual: Any
    expected: Any
    detail: str = ""
    differences: tuple[dict[str, Any], ...] = ()
