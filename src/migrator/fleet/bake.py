"""A wave's bake: for `bake` seconds after the wave, the plan's post-checks of the
transition that brought each moved target into the phase evaluated again, now and then,
read only (as `migrator plan` evaluates checks: one look each, in a READ ONLY
transaction, rolled back). A check that fails stops the rollout; nothing is undone (the
operator decides: `fleet rollback`). A stop signal ends the bake."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from io import StringIO
from typing import TYPE_CHECKING, Any

from migrator.fleet.targets import FleetTarget

if TYPE_CHECKING:
    from migrator.fleet.session import FleetSession
    from migrator.plan.model import Transition

LONGEST_INTERVAL = 30.0


def interval(seconds: float) -> float:
    """How often a bake of `seconds` looks again: a tenth of it, at least 0.1 s, at most
    30 s."""
    return min(LONGEST_INTERVAL, max(0.1, seconds / 10))


@dataclass
class BakeFailure:
    """The first post-check that failed during a bake, on which target."""

    target: str
    check: str
    detail: str

    @property
    def message(self) -> str:
        return f"post-check {self.check} failed during the bake: {self.detail}"


class _Unopened(Exception):
    def __init__(self, failure: BakeFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass
class _Watched:
    target: FleetTarget
    transition: Transition
    env: Any
    own: Any


def last_transition(session: FleetSession, from_phase: str | None, to: str) -> Transition | None:
    """The transition of the path from `from_phase` that brings the plan into `to`."""
    from migrator.plan.graph import find_path

    if from_phase is None or from_phase == to:
        return None
    try:
        path = find_path(session.plan, from_phase, to)
    except Exception:  # no path: nothing to bake
        return None
    return path[-1] if path else None


def bake(
    session: FleetSession,
    moved: list[tuple[FleetTarget, str | None]],
    seconds: float,
    stop: threading.Event,
    to: str,
) -> BakeFailure | None:
    """Evaluate the post-checks of each (target, from phase) until `seconds` have passed,
    a check fails (returned) or `stop` is set (None)."""
    try:
        with _opened(session, moved, to) as watched:
            return _baked(watched, seconds, stop)
    except _Unopened as exc:
        return exc.failure


def _baked(
    watched: list[_Watched],
    seconds: float,
    stop: threading.Event,
) -> BakeFailure | None:
    deadline = time.monotonic() + seconds
    every = interval(seconds)
    while True:
        failure = _look(watched)
        if failure is not None:
            return failure
        left = deadline - time.monotonic()
        if left <= 0 or stop.is_set():
            return None
        if stop.wait(min(every, left)):
            return None


def _look(watched: list[_Watched]) -> BakeFailure | None:
    from migrator.engine.checks import evaluate_check

    for w in watched:
        for index, check in enumerate(w.transition.post_checks):
            if check.on_fail == "warn":
                continue
            try:
                outcome, _, _ = evaluate_check(w.env, w.own, None, check, read_only=True)
            except Exception as exc:  # the target went away: a failed look, not a crash
                from migrator.db.failures import error_text

                return BakeFailure(w.target.name, check.label(index), f"error: {error_text(exc)}")
            if not outcome.passed:
                detail = outcome.detail or f"got {outcome.actual}, expected {outcome.expected}"
                return BakeFailure(w.target.name, check.label(index), detail)
    return None


@contextmanager
def _opened(
    session: FleetSession, moved: list[tuple[FleetTarget, str | None]], to: str
) -> Iterator[list[_Watched]]:
    """Each moved target's plan opened on its database, for its last transition's checks."""
    from migrator.api.context import Context
    from migrator.api.session import open_session
    from migrator.engine.checks import CheckConnection

    ctx = session.ctx
    watched: list[_Watched] = []
    with ExitStack() as stack:
        for target, from_phase in moved:
            transition = last_transition(session, from_phase, to)
            if transition is None or not transition.post_checks:
                continue
            quiet = StringIO()
            own_ctx = Context(
                out=quiet,
                err=quiet,
                dsn=target.dsn,
                variables={**target.vars, **ctx.variables},
                operator=ctx.operator,
                registry=ctx.plugins(),
                plugin_manager=ctx.manager(),
            )
            try:
                opened = stack.enter_context(open_session(own_ctx, session.plan_file))
            except Exception as exc:  # unreachable now, or refused: the bake fails there
                raise _Unopened(BakeFailure(target.name, "(connecting)", str(exc))) from None
            env = opened.environment(own_ctx)
            own = stack.enter_context(CheckConnection(env.db))
            watched.append(_Watched(target, transition, env, own))
        yield watched
