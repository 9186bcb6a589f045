"""The `wait` action: let a duration pass between two steps (`wait: 30s`), so that an
application picks up a flag or a cache expires before the next step relies on it.

It changes nothing and holds nothing: no transaction, no lock; the connection it is
given stays idle (no statement, so nothing watches it either). It
says what it waits for, and on a long wait how much is left now and then. A first
Ctrl-C (SIGINT, SIGTERM) ends it within a fraction of a second and leaves the run
interrupted; `migrator resume` then waits again, in full: a wait keeps no checkpoint,
and the time the run sat interrupted is not time the application is known to have
spent with the change (it may have been restarted, or the change put back by hand), so
the one promise a wait makes, that the next step starts at least its duration after the
step before it, is kept only by waiting it all again. Its undo does nothing. A
rehearsal lets no time pass (`stand_in`).
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from migrator import StepContext
from migrator.plugin import StopRequested

LONGEST = 6 * 3600.0
"""The longest wait a plan may ask for: longer is a mistake (a number of milliseconds
written where seconds are meant) or a pause that belongs between two transitions."""

POLL = 0.2
"""Seconds between two looks at whether the operator asked the run to stop."""

TELL_EVERY = 60.0
"""A wait longer than this says how much is left, at most ten times, at least this far apart."""


def seconds_of(raw: Any) -> float:
    """A plan's `wait` value (`30s`, `5m`, `90`) as seconds: more than 0, at most 6 hours."""
    from migrator.plugin import parse_duration

    seconds = parse_duration(raw)
    if seconds > LONGEST:
        bare = isinstance(raw, int | float) and not isinstance(raw, bool)
        hint = " (a bare number is seconds)" if bare else ""
        raise ValueError(
            f"a wait of {spoken(seconds)}{hint} is longer than {spoken(LONGEST)}: end the "
            "transition there, and apply the next one when the time has come"
        )
    return seconds


WaitConfig = Annotated[
    float,
    BeforeValidator(seconds_of),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": LONGEST},
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)?$"},
            ],
            "description": "how long: seconds, or text like 250ms, 30s, 5m, 1h (at most 6h)",
        }
    ),
]


def spoken(seconds: float) -> str:
    """A duration as people read it: `30s`, `5m`, `1h 30m`, `1.5s`, `250ms`."""
    if seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    hours, rest = divmod(round(seconds, 3), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(hours)}h"] if hours else []
    parts += [f"{int(minutes)}m"] if minutes else []
    parts += [f"{round(secs, 3):g}s"] if secs else []
    return " ".join(parts)


def roughly(seconds: float) -> str:
    """How long something took, as people read it: `0.2s`, `4.5s`, `12m 3s`."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    return spoken(round(seconds))


def describe(step: Any) -> str:
    return f"wait {spoken(step.wait)}"


def _what(ctx: StepContext, step: Any) -> str:
    """`30s (step NAME): its description`, for the lines a wait says."""
    about = f" (step {ctx.step})" if ctx.step else ""
    description = (step.description or "").strip()
    if description:
        about += f": {description.splitlines()[0]}"  # as written, like a runbook shows it
    return f"{spoken(step.wait)}{about}"


def run(ctx: StepContext, step: Any) -> Any:
    """Wait `step.wait` seconds; raise StopRequested as soon as the operator asks to stop."""
    seconds = float(step.wait)
    what = _what(ctx, step)
    ctx.say(f"  waiting {what}")
    started = time.monotonic()
    deadline = started + seconds
    every = max(TELL_EVERY, seconds / 10)
    told = started
    while True:
        now = time.monotonic()
        if ctx.stop_requested():
            raise StopRequested(
                f"stopped while {'step ' + ctx.step if ctx.step else 'an undo'} waited: "
                f"{roughly(now - started)} of {spoken(seconds)}"
            )
        left = deadline - now
        if left <= 0:
            break
        if now - told >= every:
            shown = roughly(left) if left < 10 else spoken(math.ceil(left))
            ctx.say(f"  still waiting: {shown} left of {what}")
            told = now
        time.sleep(min(POLL, left))
    return {"waited": seconds}


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Nothing to take back: waiting changed nothing."""


def stand_in(ctx: StepContext, step: Any) -> Any:
    """What a rehearsal does instead: no time passes on a copy that nothing else uses."""
    ctx.say(f"  {describe(step)}: not waited on a rehearsal")
    return {"rehearsal": "not waited", "wait": float(step.wait)}
