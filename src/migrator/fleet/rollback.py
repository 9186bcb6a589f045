"""`migrator fleet rollback FLEET PLAN`: take back exactly the targets the plan's latest
rollout moved (the ledger's `moved` and `rollback_failed`), last wave first.

Each is read first, and left alone unless it is as the rollout left it:

- a run of the plan open on it that is not one of the rollout's: `moved_since`, untouched;
- already back in the phase the rollout moved it from: nothing to do, `rolled_back`;
- its last succeeded run not one of the rollout's (someone moved it since): `moved_since`,
  untouched; the others are still taken back (it does not count against `max_failures`),
  and the command's exit code counts it as 1 (the check that the target is as the rollout
  left it failed, and nothing was changed);
- else `migrator rollback PLAN` runs on it (its own process, as `fleet apply` runs
  `migrator apply`): `rolled_back`, or `rollback_failed` with its exit code.

`migrator rollback` takes back ONE transition, the target's last completed one (after it,
the last run is the rollback itself, and a second one has nothing to take back). A rollout
that moved a target through several transitions is taken back by its last one only: the
target's record keeps the phase it is left in, and the message names it.

Waves run in reverse order, each `parallel` at a time with the fleet's retries (exit 4, 5),
`max_failures` halting the rollback as it halts a rollout. The ledger is held throughout
(another fleet command: exit 4). SIGINT / SIGTERM: nothing new starts, each command under
way is passed the stop once (it stops at its next safe point), exit 130 / 143.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode
from migrator.fleet.child import Child
from migrator.fleet.ledger import Book, RolloutRecord, TargetRecord, now
from migrator.fleet.model import WaveSpec
from migrator.fleet.reading import read_target
from migrator.fleet.rollout import Halt, Outcome, fleet_exit_code, run_wave
from migrator.fleet.targets import FleetTarget

if TYPE_CHECKING:
    from migrator.fleet.session import FleetSession
    from migrator.state import RunRow


def rollback_fleet(session: FleetSession) -> ExitCode:
    """Take the latest rollout of the plan back on the targets it moved; the fleet's exit
    code (0: nothing to take back, or all taken back)."""
    with session.ledger.held():
        document = session.ledger.load()
        rollout = document.latest(session.plan.name)
        taking = _Rollback(session, rollout)
        if rollout is not None:
            taking.unsure(rollout)
        if rollout is None or not rollout.moved():
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

    # -- output -------------------------------------------------------------------------

    def say(self, line: str) -> None:
        with self.guard:
            self.ctx.say(self.session.secrets.mask(line))

    def document(self, code: ExitCode, result: str) -> dict[str, Any]:
        return {
            "fleet": self.session.fleet.name,
            "plan": self.session.plan.name,
            "rollout": None if self.rollout is None else self.rollout.id,
            "exit_code": int(code),
            "result": result,
            "targets": self.ended,
        }

    def unsure(self, rollout: RolloutRecord) -> None:
        """Name the targets whose `fleet apply` ended while their command ran (killed):
        whether they moved is not recorded, so they are not taken back."""
        for name, record in rollout.targets.items():
            if record.state == "running":
                self.say(
                    f"{name}: the rollout's command on it never reported its end (its fleet "
                    "apply was killed): not taken back; `migrator fleet apply` again "
                    "records where it is"
                )

    def nothing(self) -> ExitCode:
        plan = self.session.plan.name
        if self.rollout is None:
            why = f"the ledger ({self.session.ledger.where}) has no rollout of plan {plan}"
        elif self.rollout.status == "rolled_back":
            why = f"rollout {self.rollout.id} of plan {plan} was rolled back already"
        else:
            why = f"rollout {self.rollout.id} of plan {plan} moved no target"
        self.say(f"{why}: nothing to take back")
        if self.ctx.output == "json":
            self.ctx.emit_json(self.document(ExitCode.OK, "nothing"))
        return ExitCode.OK

    # -- the rollback -------------------------------------------------------------------

    def run(self, book: Book) -> ExitCode:
        rollout = book.rollout
        names = rollout.moved()
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
        with self._signals():
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
        back = all(book.target(n).state == "rolled_back" for n in names)
        book.set_status("rolled_back" if back else "rolling_back", ended=True)
        code = fleet_exit_code(codes)
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
            return self._take_back(book, target)
        except Exception as exc:  # one target's trouble is its own, never the fleet's
            book.update(target.name, message=self.session.secrets.mask(f"internal error: {exc}"))
            return ExitCode.INTERNAL

    def _take_back(self, book: Book, target: FleetTarget) -> int:
        session = self.session
        plan = session.plan
        record = book.target(target.name)
        timeout = float(session.fleet.spec.timeout)
        reading = read_target(target, plan.name, plan.initial_phase, timeout, session.secrets)
        if reading.error is not None:
            book.update(target.name, message=f"could not be read: {reading.error}")
            return ExitCode.UNREACHABLE
        ours = set(record.runs)

        def of_ours(run: RunRow) -> bool:
            """One of the rollout's runs, or the rollback of one (a `fleet rollback` killed
            before it recorded its run, or a `migrator rollback` by hand)."""
            return run.id in ours or (run.reverts is not None and run.reverts in ours)

        open_run = reading.open_run
        if open_run is not None and not of_ours(open_run):
            return self._moved_since(
                book,
                target,
                reading.phase,
                f"run {open_run.id} ({open_run.transition}) "
                f"by {open_run.operator} is {open_run.status} there",
            )
        if open_run is None and reading.phase == record.from_phase:
            book.update(
                target.name,
                state="rolled_back",
                phase=reading.phase,
                exit_code=0,
                message=f"already in phase {reading.phase}: nothing to do",
                ended_at=now(),
            )
            return ExitCode.OK
        last = reading.last_succeeded
        if open_run is None and (last is None or not of_ours(last)):
            since = (
                "no completed run"
                if last is None
                else (f"run {last.id} ({last.transition}, by {last.operator})")
            )
            return self._moved_since(
                book,
                target,
                reading.phase,
                f"its last completed run is {since}, not one of this rollout's",
            )
        return self._rollback(book, target, record)

    def _moved_since(self, book: Book, target: FleetTarget, phase: str | None, why: str) -> int:
        book.update(
            target.name,
            state="moved_since",
            phase=phase,
            exit_code=int(ExitCode.CHECK_FAILED),
            message=f"moved since this rollout: {why}; not touched",
            ended_at=now(),
        )
        return ExitCode.OK  # a refusal, not a failure of the wave: the others go on

    def _rollback(self, book: Book, target: FleetTarget, record: TargetRecord) -> int:
        args = ["rollback", "--operator", self.ctx.operator]
        if self.ctx.assume_yes:
            args.append("--yes")
        child = self.session.child(
            target,
            self.session.command(target, *args),
            on_event=lambda event: self._event(target, event),
        )
        with self.guard:
            if self.halt.stop.is_set():
                return int(self.signalled or ExitCode.SIGINT)
            self.children.add(child)
        try:
            result = child.run()
        finally:
            with self.guard:
                self.children.discard(child)
        runs = record.runs + [r for r in result.run_ids if r not in record.runs]
        phase = result.phase
        if result.exit_code == ExitCode.OK:
            message = f"back in phase {phase}"
            if phase != record.from_phase:
                message = (
                    f"its last transition taken back: in phase {phase}, not "
                    f"{record.from_phase} where the rollout found it (`migrator rollback` "
                    "takes back one transition)"
                )
            state = "rolled_back"
        else:
            message = result.last_line or f"exit {result.exit_code}"
            state = "rollback_failed"
        book.update(
            target.name,
            state=state,
            phase=phase or record.phase,
            exit_code=result.exit_code,
            runs=runs,
            message=message,
            ended_at=now(),
        )
        return result.exit_code

    def _event(self, target: FleetTarget, event: dict[str, Any]) -> None:
        if self.ctx.log_format != "json":
            return
        line = json.dumps({"target": target.name, **event}, default=str)
        with self.guard:
            self.ctx.err.write(line + "\n")
            self.ctx.err.flush()

    def _ended(self, book: Book, outcome: Outcome) -> None:
        name = outcome.target.name
        if outcome.code is not None and outcome.attempts:
            book.update(name, attempts=outcome.attempts)
        record = book.target(name)
        self._record(name, record, outcome.code)
        shown = record.state.replace("_", " ")
        if outcome.code is not None and outcome.code not in (0,) and record.state == "moved":
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
        states = [book.target(n).state for n in names]
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

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT / SIGTERM: stop starting targets, pass the stop once to each command
        under way. Installed only from the main thread (a library caller's thread keeps
        its own handling)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, _frame: Any) -> None:
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

        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
