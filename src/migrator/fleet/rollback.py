"""`migrator fleet rollback FLEET PLAN`: take the targets the plan's latest rollout moved
back to the phase it found each in, last wave first.

Which targets, and what to do on each, is read from the targets themselves
(`fleet.takeback`): their runs made by the rollout's commands (the ledger's pids and run
ids). A target someone moved since is left as it is (`moved_since`, counted as exit 1);
one the rollout moved through several transitions is taken back by `migrator rollback`
(its last transition) then `migrator apply --to FROM_PHASE` (the plan's way back); an
interrupted run of the rollout's is undone. `rolled_back` only when it is in the phase
the rollout found it in. Never exit 0 while a target the rollout moved is left moved.

Waves run in reverse order, each `parallel` at a time with the fleet's retries (exit 4, 5),
`max_failures` halting the rollback as it halts a rollout. The ledger is held throughout
(another fleet command: exit 4). SIGINT / SIGTERM: nothing new starts, each command under
way is passed the stop once (it stops at its next safe point), exit 130 / 143.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode
from migrator.fleet.child import Child
from migrator.fleet.ledger import Book, RolloutRecord, TargetRecord
from migrator.fleet.model import WaveSpec
from migrator.fleet.rollout import Halt, Outcome, Stopping, fleet_exit_code, run_wave
from migrator.fleet.takeback import SKIPPED, TakeBack, candidates
from migrator.fleet.targets import FleetTarget

if TYPE_CHECKING:
    from migrator.fleet.session import FleetSession


def rollback_fleet(session: FleetSession) -> ExitCode:
    """Take the latest rollout of the plan back on the targets it moved; the fleet's exit
    code (0: nothing to take back, or all taken back)."""
    with session.ledger.held():
        document = session.ledger.load()
        rollout = document.latest(session.plan.name)
        taking = _Rollback(session, rollout)
        if rollout is None or not candidates(rollout.targets):
            return taking.nothing()
        book = Book(session.ledger, document, rollout)
        return taking.run(book)


class _Rollback:
    def __init__(self, session: FleetSession, rollout: RolloutRecord | None) -> None:
        self.session = session
        self.ctx = session.ctx
        self.rollout = rollout
        self.halt = Halt()
        self.children: set[Child] = set()
        self.signalled: int | None = None
        self.guard = threading.RLock()  # the signal handler takes it on the main thread
        self.ended: list[dict[str, Any]] = []
        self.skipped: set[str] = set()
        """Targets read and found with nothing of the rollout's to take back."""

    # -- output -------------------------------------------------------------------------

    def say(self, line: str) -> None:
        """A line for a person: masked, every control character written visibly (a name
        or a message from a target, the ledger or a child cannot drive the terminal), and
        on a terminal wrapped to its width."""
        from migrator.views.console import terminal_width, wrapped
        from migrator.views.markdown import is_terminal
        from migrator.views.values import visible

        text = visible(self.session.secrets.mask(line))
        stream = self.ctx.err if self.ctx.output == "json" else self.ctx.out
        if is_terminal(stream):
            text = wrapped(text, terminal_width(stream), "", "  ")
        with self.guard:
            self.ctx.say(text)

    def document(self, code: ExitCode, result: str) -> dict[str, Any]:
        return {
            "fleet": self.session.fleet.name,
            "plan": self.session.plan.name,
            "rollout": None if self.rollout is None else self.rollout.id,
            "exit_code": int(code),
            "result": result,
            "targets": self.ended,
        }

    def nothing(self) -> ExitCode:
        plan = self.session.plan.name
        if self.rollout is None:
            why = f"the ledger ({self.session.ledger.where}) has no rollout of plan {plan}"
        elif self.rollout.status == "rolled_back":
            why = f"rollout {self.rollout.id} of plan {plan} was rolled back already"
        else:
            states = [r.state for r in self.rollout.targets.values()]
            counts = ", ".join(
                f"{states.count(s)} {s.replace('_', ' ')}" for s in dict.fromkeys(states)
            )
            why = (
                f"rollout {self.rollout.id} of plan {plan} ({self.rollout.status}) left no "
                f"target moved by it to take back: its targets are {counts or 'none'}"
            )
        self.say(f"{why}: nothing to take back")
        if self.ctx.output == "json":
            self.ctx.emit_json(self.document(ExitCode.OK, "nothing"))
        return ExitCode.OK

    # -- the rollback -------------------------------------------------------------------

    def run(self, book: Book) -> ExitCode:
        rollout = book.rollout
        order_of = {wave: index for index, wave in enumerate(rollout.waves)}
        names = sorted(
            candidates(rollout.targets),
            key=lambda n: order_of.get(rollout.targets[n].wave, len(order_of)),
        )
        by_name = {t.name: t for t in self.session.targets}
        waves = {w.name: w for w in self.session.fleet.waves}
        order = list(reversed(rollout.waves))  # the last wave first
        for name in reversed(names):  # a wave the record does not list (edited by hand)
            if rollout.targets[name].wave not in order:
                order.insert(0, rollout.targets[name].wave)
        book.set_status("rolling_back")
        self.say(
            f"rolling back rollout {rollout.id} ({rollout.plan} to {rollout.to}) on "
            f"{len(names)} target(s), last wave first"
        )
        codes: list[int | None] = []
        with Stopping(self._stop).handling():
            for wave_name in order:
                wave_targets: list[FleetTarget] = []
                for name in (n for n in names if rollout.targets[n].wave == wave_name):
                    if name in by_name:
                        wave_targets.append(by_name[name])
                    else:
                        codes.append(self._gone(book, name))
                if not wave_targets or self.halt.halted:
                    continue
                spec = waves.get(wave_name) or WaveSpec(name=wave_name, parallel=1, max_failures=0)
                outcomes = run_wave(
                    spec,
                    wave_targets,
                    lambda target, attempt: self._attempt(book, target, attempt),
                    retry=self.session.fleet.spec.retry,
                    halt=self.halt,
                    on_end=lambda outcome: self._ended(book, outcome),
                )
                codes += [
                    ExitCode.CHECK_FAILED
                    if book.target(o.target.name).state == "moved_since"
                    else o.code
                    for o in outcomes
                ]
        back = all(book.target(n).state == "rolled_back" or n in self.skipped for n in names)
        book.set_status("rolled_back" if back else "rolling_back", ended=True)
        code = fleet_exit_code(codes)
        if code == ExitCode.OK and not back:
            code = ExitCode.CHECK_FAILED  # never 0 while a target it moved is left moved
        if self.signalled is not None:
            code = ExitCode.SIGINT if self.signalled == signal.SIGINT else ExitCode.SIGTERM
        return self._finish(book, names, code, back)

    def _gone(self, book: Book, name: str) -> int:
        message = "no longer in the fleet file: not rolled back"
        book.update(name, message=message)
        self._record(name, book.target(name), ExitCode.INVALID)
        self.say(f"{name}: {message}")
        return ExitCode.INVALID

    def _attempt(self, book: Book, target: FleetTarget, attempt: int) -> int:
        try:
            code = TakeBack(
                self.session,
                book,
                target,
                started=self._started,
                finished=self._finished,
                on_event=lambda event: self._event(target, event),
            ).run()
        except Exception as exc:  # one target's trouble is its own, never the fleet's
            book.update(target.name, message=self.session.secrets.mask(f"internal error: {exc}"))
            return ExitCode.INTERNAL
        if code == SKIPPED:
            self.skipped.add(target.name)
            return ExitCode.OK
        return code

    def _started(self, child: Child) -> bool:
        with self.guard:
            if self.halt.stop.is_set():
                return False
            self.children.add(child)
            return True

    def _finished(self, child: Child) -> None:
        with self.guard:
            self.children.discard(child)

    def _event(self, target: FleetTarget, event: dict[str, Any]) -> None:
        if self.ctx.log_format != "json":
            return
        line = json.dumps({"target": target.name, **event}, default=str)
        with self.guard:
            self.ctx.err.write(line + "\n")
            self.ctx.err.flush()

    def _ended(self, book: Book, outcome: Outcome) -> None:
        name = outcome.target.name
        if name in self.skipped:  # its record is the apply's, unchanged
            record = book.target(name)
            self._record(name, record, outcome.code)
            self.say(
                f"{name} (wave {record.wave}): {record.state.replace('_', ' ')}, nothing of "
                "this rollout's on it to take back"
            )
            return
        if outcome.code is not None and outcome.attempts:
            book.update(name, attempts=outcome.attempts)
        record = book.target(name)
        self._record(name, record, outcome.code)
        shown = record.state.replace("_", " ")
        if outcome.code is not None and outcome.code != 0 and record.state in ("moved", "running"):
            shown = f"not taken back (exit {outcome.code})"
        self.say(f"{name} (wave {record.wave}): {shown}: {record.message}")

    def _record(self, name: str, record: TargetRecord, code: int | None) -> None:
        with self.guard:
            self.ended.append(
                {
                    "name": name,
                    "wave": record.wave,
                    "state": record.state,
                    "from_phase": record.from_phase,
                    "phase": record.phase,
                    "exit_code": code,
                    "attempts": record.attempts,
                    "runs": list(record.runs),
                    "message": record.message,
                }
            )

    def _finish(self, book: Book, names: list[str], code: ExitCode, back: bool) -> ExitCode:
        listed = {t["name"] for t in self.ended}
        for name in names:
            if name not in listed:  # the rollback stopped before its turn: untouched
                self._record(name, book.target(name), None)
                self.say(f"{name} (wave {book.target(name).wave}): not started, untouched")
        states = [book.target(n).state for n in names if n not in self.skipped]
        counts = {s: states.count(s) for s in dict.fromkeys(states)}
        summary = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
        plan_file = self.session.plan_file
        self.say(f"rollout {book.rollout.id}: {summary}")
        for name in names:
            record = book.target(name)
            if record.state == "rollback_failed":
                self.say(
                    f"target {name}: `migrator resume {plan_file}` or `migrator rollback "
                    f"{plan_file}` on target {name} settles it; or `migrator fleet rollback` "
                    "again"
                )
        if self.halt.reason:
            self.say(f"stopped: {self.halt.reason}")
        result = "rolled_back" if back else ("stopped" if self.halt.halted else "failed")
        if self.ctx.output == "json":
            self.ctx.emit_json(self.session.secrets.mask_data(self.document(code, result)))
        return code

    # -- signals --------------------------------------------------------------------------

    def _stop(self, signum: int) -> None:
        """SIGINT / SIGTERM: stop starting targets, pass the stop once to each command
        under way."""
        with self.guard:
            first = self.signalled is None
            self.signalled = self.signalled or signum
            under_way = list(self.children) if first else []
        self.halt.request_stop(f"{signal.Signals(signum).name} received")
        for child in under_way:
            child.interrupt()
        if first:
            self.say(
                f"{signal.Signals(signum).name}: stopping: no target starts now; the "
                f"{len(under_way)} rollback(s) under way stop at their next safe point"
            )
