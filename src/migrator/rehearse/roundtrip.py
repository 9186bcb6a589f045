"""The round trips of a rehearsal: each transition forward, back and forward again.

`Walk` moves a plan through its phases on a scratch database (through `Walker`, which
runs one given transition with a `Runner`'s public pieces) and compares catalog
snapshots around each leg (`migrator.rehearse.catalog`); a difference becomes a
`Finding` laid at the steps of the transition that name the object. What a rehearsal
must not touch is stood in (`migrator.rehearse.standins`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrator import state
from migrator.engine.environment import RunEnvironment
from migrator.engine.runner import Runner, irreversible_done
from migrator.errors import ExitCode, UsageError
from migrator.plan.graph import NoPath, find_path
from migrator.plan.model import Transition
from migrator.rehearse import catalog
from migrator.rehearse.catalog import Difference, Snapshot
from migrator.rehearse.standins import FlagOverlay
from migrator.rehearse.trace import StepTrace, Tracer, judge

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from migrator.lint.findings import LintFinding


# -- what a rehearsal finds ---------------------------------------------------------------


@dataclass
class Finding:
    """A difference after one leg of a round trip, and the steps it is laid at."""

    leg: str  # back | forward again
    difference: Difference
    steps: list[str]
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"leg": self.leg, **self.difference.as_dict(), "steps": self.steps,
                "message": self.message}  # fmt: skip


@dataclass
class RoundTrip:
    """Forward, back and forward again through one transition."""

    transition: str
    source: str
    target: str
    back: str | None = None
    legs: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    failed: str | None = None  # which leg failed, and how
    log: str = ""  # what the failing leg printed
    checks: list[dict[str, Any]] = field(default_factory=list)  # checks that did not pass
    notes: list[str] = field(default_factory=list)  # what is said without failing
    # steps marked `rollback: irreversible` that the forward completed and that only the
    # undo of its steps could take back: the trip stops after the forward, by design
    irreversible: list[str] = field(default_factory=list)
    trace: list[StepTrace] = field(default_factory=list)  # what each step of each leg did

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.findings:
            return "differences"
        return "irreversible" if self.irreversible else "clean"

    @property
    def passes(self) -> bool:
        """Every reversible part came back as it was (an irreversible trip passes)."""
        return self.outcome in ("clean", "irreversible")

    def as_dict(self) -> dict[str, Any]:
        return {
            "transition": self.transition,
            "from": self.source,
            "to": self.target,
            "back": self.back,
            "legs": self.legs,
            "outcome": self.outcome,
            "failed": self.failed,
            "log": self.log or None,
            "checks_not_passed": self.checks,
            "notes": self.notes,
            "irreversible": self.irreversible,
            "differences": [f.as_dict() for f in self.findings],
            "trace": [entry.as_dict() for entry in self.trace],
        }


# -- the walk -----------------------------------------------------------------------------


class Walker:
    """Walks a plan edge by edge: one given transition, and the way back of the last.

    Unlike `apply` and `rollback`, it does not ask for every `${env:...}` of a transition
    up front: those of the steps and checks a rehearsal does not call are not needed,
    and a step that does need a missing one fails saying so.
    """

    def __init__(self, env: RunEnvironment) -> None:
        self.env = env
        self.plan = env.plan
        self.runner = Runner(env)

    def run_transition(self, t: Transition) -> ExitCode:
        with self.runner.locked() as (lock, conn):
            with conn.begin():
                phase = state.current_phase(conn, self.plan.name, self.plan.initial_phase)
                open_run = state.open_run(conn, self.plan.name)
            if open_run is not None:
                raise self.runner.blocked(open_run)
            if phase != t.source:
                raise UsageError(f"{t.name} starts in phase '{t.source}', not '{phase}'")
            return self.runner.new_run(lock, t)

    def take_back(self) -> ExitCode:
        """What `migrator rollback` does after a completed transition: take it back."""
        with self.runner.locked() as (lock, conn):
            with conn.begin():
                open_run = state.open_run(conn, self.plan.name)
                last = state.last_succeeded_run(conn, self.plan.name)
            if open_run is not None:
                raise self.runner.blocked(open_run)
            if last is None or last.reverts is not None:
                raise UsageError(f"plan {self.plan.name} has no transition to take back")
            return self.runner.new_run(lock, self.runner.reverse_of(last), takes_back=last)


def _flag_left_set(t: Transition, back: str, difference: Difference) -> str:
    """A flag the way back leaves set where there was none: said, not failed.

    A reverse transition cannot remove a flag (the `flag` action sets one), so no plan
    could restore the absence; whether the value it leaves equals "no flag" is the
    application's to say (the default it reads for a missing flag).
    """
    name = difference.names[0]
    value = json.dumps(difference.after, default=str)
    return (
        f"flag {difference.key} did not exist before {t.name}; the way back ({back}) leaves "
        f"it set to {value}: the same only if the application reads a missing {name} as {value}"
    )


def _step_text(step: Any) -> str:
    """What a step does, as text to look for names in (not its own name or description)."""
    config = step.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"name", "description"}
    )
    return json.dumps(config, default=str)


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


class Walk:
    """The walk through a plan's transitions on the scratch database."""

    def __init__(
        self,
        walker: Walker,
        overlay: FlagOverlay,
        log: io.StringIO,
        tracer: Tracer | None = None,
        lint: dict[tuple[str, str], list[LintFinding]] | None = None,
    ) -> None:
        self.walker = walker
        self.tracer = tracer  # the run environment's observer, when the steps are traced
        self.lint = lint or {}  # the plan's lint findings by (transition, step label)
        self.plan = walker.plan
        self.db: Engine = walker.env.db
        self.overlay = overlay
        self.log = log
        self.covered: set[str] = set()
        self.trips: list[RoundTrip] = []
        self.unreached: dict[str, str] = {}
        self.stopped = False

    # -- the database -----------------------------------------------------------------------

    def phase(self) -> str:
        with self.db.connect() as conn, conn.begin():
            return state.current_phase(conn, self.plan.name, self.plan.initial_phase)

    def last_run(self) -> state.RunRow:
        with self.db.connect() as conn, conn.begin():
            runs = state.runs_of(conn, self.plan.name, limit=1)
        return runs[0]

    def done_steps(self, run_id: int) -> set[int]:
        with self.db.connect() as conn, conn.begin():
            return state.step_indexes(conn, run_id, state.EventKind.STEP, (state.EventStatus.DONE,))

    def snap(self) -> tuple[Snapshot, dict[tuple[str, str], Any]]:
        with self.db.connect() as conn, conn.begin():
            return catalog.snapshot(conn), dict(self.overlay.values)

    def compare(
        self,
        before: tuple[Snapshot, dict[tuple[str, str], Any]],
        after: tuple[Snapshot, dict[tuple[str, str], Any]],
    ) -> list[Difference]:
        with self.db.connect() as conn, conn.begin():
            ctx = self.walker.env.step_context(conn, None)
            sides = []
            for snapshot, values in (before, after):
                flags = {**snapshot["flag"], **self.overlay.effective(values, ctx)}
                sides.append({**snapshot, "flag": flags})
        return catalog.compare(sides[0], sides[1], self.walker.env.secrets.shorten)

    # -- legs -------------------------------------------------------------------------------

    def leg(self, trip: RoundTrip, name: str, run: Callable[[], ExitCode]) -> bool:
        start = self.log.tell()
        seen = len(self.walker.env.reporter.events)
        traced = len(self.tracer.entries) if self.tracer else 0
        code = run()
        if self.tracer is not None and len(self.tracer.entries) > traced:
            self.traced(trip, name, self.tracer.entries[traced:])
        for event in self.walker.env.reporter.events[seen:]:
            if event["kind"] == state.EventKind.CHECK and event["status"] in (
                state.EventStatus.WARNED,
                state.EventStatus.FAILED,
            ):
                detail = event.get("detail") or {}
                trip.checks.append(
                    {
                        "leg": name,
                        "check": f"{detail.get('phase', '')}-check '{event['step']}'",
                        "actual": detail.get("actual"),
                        "expected": detail.get("expected"),
                        "detail": detail.get("detail") or None,
                    }
                )
        if code == ExitCode.OK:
            trip.legs.append(name)
            return True
        self.log.seek(start)
        trip.log = self.log.read()
        trip.failed = f"{name} failed (exit {int(code)})"
        return False

    def traced(self, trip: RoundTrip, leg: str, entries: list[StepTrace]) -> None:
        """Lay the trace of a leg's steps in its round trip, each judged against the lint of
        its step (an undo's against its step's `rollback` steps)."""
        transition = self.last_run().transition
        for entry in entries:
            entry.leg, entry.transition = leg, transition
            judge(
                entry,
                self.lint.get((trip.transition if entry.undo else transition, entry.step), []),
            )
            trip.trace.append(entry)

    def walk(self, start: str) -> None:
        self.visit(start)
        for t in self.plan.transitions:
            if t.name in self.covered or t.name in self.unreached:
                continue
            if self.stopped:
                self.unreached[t.name] = "the rehearsal stopped at a failure before it"
            elif t.reverts is not None:
                self.unreached[t.name] = (
                    f"it runs only as the way back of {t.reverts}, which did not use it"
                )
            else:
                self.unreached[t.name] = f"phase '{t.source}' is not reached from '{start}'"

    def visit(self, phase: str) -> None:
        for t in self.plan.transitions:
            if self.stopped:
                return
            if t.source != phase or t.name in self.covered or t.reverts is not None:
                continue
            if self.phase() != phase and not self.return_to(phase, t):
                continue
            self.round_trip(t)
            self.covered.add(t.name)
            if self.stopped:
                return
            self.visit(t.target)

    def return_to(self, phase: str, t: Transition) -> bool:
        here = self.phase()
        try:
            path = find_path(self.plan, here, phase)
        except NoPath:
            path = None
        why = ""
        for step in path or []:
            try:
                code = self.walker.run_transition(step)
            except UsageError as exc:  # the way back passes an irreversible step
                code, why = ExitCode.INVALID, str(exc)
            if code != ExitCode.OK:
                path = None
                break
        if path is None:
            reason = f"the rehearsal could not come back from phase '{here}' to '{phase}'"
            kept = [trip for trip in self.trips if trip.irreversible and trip.target == here]
            if kept:  # the walk is here by a transition it could not take back
                steps = ", ".join(f"'{s}'" for s in kept[-1].irreversible)
                reason += (
                    f": it came to '{here}' by {kept[-1].transition}, not taken back "
                    f"({steps} marked `rollback: irreversible`)"
                )
            elif "rollback: irreversible" in why:
                reason += ": the way back passes a step marked `rollback: irreversible`"
            self.unreached[t.name] = reason
            return False
        return True

    def irreversible_passed(self, t: Transition, run: state.RunRow) -> list[str]:
        """The steps of `t` marked `rollback: irreversible` that `run` completed, when the
        way back is the undo of its steps (a reverse transition of its own needs no undo)."""
        if self.walker.runner.reverse_of(run).reverts is None:
            return []
        with self.db.connect() as conn:
            return irreversible_done(conn, self.walker.env.registry, run, t)

    def round_trip(self, t: Transition) -> None:
        trip = RoundTrip(t.name, t.source, t.target)
        self.trips.append(trip)
        before = self.snap()
        if not self.leg(trip, "forward", lambda: self.walker.run_transition(t)):
            self.stopped = True
            return
        forward_run = self.last_run()
        trip.irreversible = self.irreversible_passed(t, forward_run)
        if trip.irreversible:  # what `migrator rollback` would refuse: not a failure
            return
        after = self.snap()
        if not self.leg(trip, "back", self.walker.take_back):
            self.stopped = True
            return
        back_run = self.last_run()
        way_back = [x for x in self.plan.transitions if x.name == back_run.transition]
        if way_back:
            self.covered.add(back_run.transition)
        # A transition of its own, or (None) the undo of t's steps.
        trip.back = way_back[0].name if way_back and way_back[0].reverts is None else None
        done = self.done_steps(forward_run.id)
        for difference in self.compare(before, self.snap()):
            if trip.back is not None and difference.kind == "flag" and difference.change == "added":
                trip.notes.append(_flag_left_set(t, trip.back, difference))
                continue
            trip.findings.append(self.finding("back", t, trip.back, done, difference))
        if not self.leg(trip, "forward again", lambda: self.walker.run_transition(t)):
            self.stopped = True
            return
        for difference in self.compare(after, self.snap()):
            trip.findings.append(self.finding("forward again", t, trip.back, done, difference))

    def finding(
        self, leg: str, t: Transition, back: str | None, done: set[int], difference: Difference
    ) -> Finding:
        steps = [(s.label(i), _step_text(s)) for i, s in enumerate(t.steps) if i in done]
        culprits: list[str] = []
        for name in difference.names:
            culprits = [label for label, text in steps if catalog.mentions(text, name)]
            if culprits:
                break
        culprits = culprits or [label for label, _ in steps]
        what = difference.describe()
        several = len(culprits) > 1
        named = f"step{'s' if several else ''} {_quoted(culprits)} of {t.name}"
        if leg == "forward again":
            message = f"{named}, run again after the way back, give another result: {what}"
        elif back is not None:
            message = f"the way back ({back}) does not restore what {named} changed: {what}"
        elif culprits:
            its = "their" if several else "its"
            message = f"{named}: {its} undo does not restore what it changed: {what}"
        else:
            message = f"the undo of {t.name} does not restore {what}"
        return Finding(leg, difference, culprits, message)
