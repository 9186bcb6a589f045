"""`migrator fleet apply FLEET PLAN --to PHASE`: the plan to a phase on every target, wave
by wave, each target exactly as `migrator apply` moves it (a process of its own).

The ledger is held for the whole command (a second fleet command exits 4). The plan's
latest rollout is continued when it went to the same phase and was not rolled back;
else a new one starts (claims.py; a continue with other `--var`s is refused once the
rollout moved a target). Each target is read first: one in the phase already is
skipped (so running `fleet apply` again resumes a stopped rollout), and one that cannot
be read counts as exit 5 (tried again). Before its command starts the ledger says
`running`, and the command's pid is recorded before it can make a run: a target found
in the phase counts as moved by this rollout only when the run that brought it there
was made by one of the rollout's commands (even one a killed fleet never heard end);
another operator's run is never claimed. A command that made no run (exit 4, a stop
before it began) puts the target's state back; one a signal stopped mid-way stays
`running`, with its runs. A target never started because the rollout halted is
`not_started`.
"""

from __future__ import annotations

import json
import signal
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from migrator.api.context import Context
from migrator.errors import ExitCode
from migrator.fleet.bake import bake
from migrator.fleet.child import Child
from migrator.fleet.claims import continued, its_runs, moved_by_it
from migrator.fleet.gates import plan_approval, wave_approval
from migrator.fleet.ledger import (
    Book,
    TargetRecord,
    now,
)
from migrator.fleet.rollout import (
    FAILED,
    RETRIED,
    STOPPED,
    Halt,
    Outcome,
    Stopping,
    fleet_exit_code,
    run_wave,
    settled,
)
from migrator.fleet.session import FleetSession
from migrator.fleet.targets import FleetTarget
from migrator.views.durations import elapsed
from migrator.views.fleet_live import (
    FleetView,
    fleet_document,
    summary_line,
    with_target,
)
from migrator.views.markdown import is_terminal

if TYPE_CHECKING:
    from migrator.state import RunRow

DONE = ("moved", "in_phase")


def apply_fleet(session: FleetSession, to: str | None) -> ExitCode:
    """Move the plan to `to` on every target, wave by wave; the fleet's exit code."""
    from migrator.api.session import default_target_phase

    phase = default_target_phase(session.plan, to)
    with session.ledger.held():
        document = session.ledger.load()
        rollout = continued(session, document, phase)
        book = Book(session.ledger, document, rollout)
        book.set_status("running")
        return _Apply(session, book, phase).run()


class _Apply:
    def __init__(self, session: FleetSession, book: Book, to: str) -> None:
        self.session = session
        self.ctx: Context = session.ctx
        self.book = book
        self.to = to
        self.halt = Halt()
        self.under_way: set[Child] = set()
        self.lock = threading.Lock()
        self.codes: dict[str, int | None] = {t.name: None for t in session.targets}
        self.yes = False
        self.prompting = False
        self.skipped: set[str] = set()
        """Targets found in the phase by this command (nothing started on them)."""
        self.stopping = Stopping(self._signalled)
        terminal = is_terminal(self.ctx.out) and self.ctx.output == "text"
        self.view = FleetView(
            self.ctx.say,
            session.secrets,
            self.ctx.out,
            terminal=terminal,
            targets=[(t.name, t.wave) for t in session.targets],
        )

    # -- the rollout -----------------------------------------------------------------------

    def run(self) -> ExitCode:
        s = self.session
        self.view.say(
            f"fleet {s.fleet.name}: plan {s.plan.name} to {self.to} on {len(s.targets)} "
            f"target(s), rollout {self.book.rollout.id}"
        )
        with self.stopping.handling(), self.view.live():
            if self._pending(s.targets):
                verdict = plan_approval(self.ctx, s.plan, self._ask)
                if verdict is not None and not verdict.approved:
                    self.halt.request_stop(verdict.why)
                self.yes = verdict is not None and verdict.approved
            for wave, targets in s.waves():
                if self.halt.halted or not targets:
                    continue
                if wave.approval and self._pending(targets):
                    verdict = wave_approval(
                        self.ctx, s.fleet.name, wave.name, len(targets), self._ask
                    )
                    if not verdict.approved:
                        self.halt.request_stop(verdict.why)
                        break
                self.view.wave_started(wave.name, len(targets), wave.parallel)
                outcomes = run_wave(
                    wave,
                    targets,
                    self._attempt,
                    retry=s.fleet.spec.retry,
                    halt=self.halt,
                    on_retry=self._retrying,
                    on_end=self._ended,
                )
                states: Counter[str] = Counter(
                    self.book.target(o.target.name).state for o in outcomes
                )
                self.view.wave_ended(wave.name, dict(states))
                if wave.bake and not self.halt.halted:
                    self._bake(wave.name, wave.bake, outcomes)
        return self._finish()

    def _pending(self, targets: list[FleetTarget]) -> bool:
        return any(self.book.target(t.name).state not in DONE for t in targets)

    def _ask(self, question: str) -> bool:
        """A question at the terminal; a signal while it waits is a no."""
        with self.view.paused():
            self.prompting = True
            try:
                return bool(self.ctx.confirm(question))
            except _StopAsking:
                return False
            finally:
                self.prompting = False

    def _signalled(self, signum: int) -> None:
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        self.halt.request_stop(f"stopped by {name}")
        with self.lock:
            children = list(self.under_way)
        for child in children:
            child.interrupt()
        if self.stopping.count == 1:
            self.view.say(
                f"{name}: stopping; no target starts now, the stop is passed on to the "
                f"{len(children)} target(s) under way ({name} again: they stop at once)"
            )
        else:
            self.view.say(f"{name} again: the {len(children)} target(s) under way stop at once")
        if self.prompting:
            raise _StopAsking  # out of the question it waits on (main thread)

    # -- one target ------------------------------------------------------------------------

    def _attempt(self, target: FleetTarget, attempt: int) -> int | None:
        try:
            return self._once(target, attempt)
        except Exception as exc:  # a bug or the machine (no process): this target's failure
            message = self.session.secrets.mask(f"{type(exc).__name__}: {exc}")
            self.book.update(target.name, exit_code=int(ExitCode.INTERNAL), message=message)
            return int(ExitCode.INTERNAL)

    def _once(self, target: FleetTarget, attempt: int) -> int | None:
        s, book = self.session, self.book
        reading = s.read(target)
        record = book.target(target.name)
        if not reading.reachable:
            book.update(target.name, attempts=attempt, message=reading.error or "", exit_code=5)
            return int(ExitCode.UNREACHABLE)
        if reading.phase == self.to:
            return self._in_phase(target, reading.last_succeeded, record, attempt)
        self.skipped.discard(target.name)
        if self.halt.halted:
            return None  # halted while it was read: not started
        book.update(
            target.name,
            state="running",
            from_phase=record.from_phase or reading.phase,
            phase=reading.phase,
            attempts=attempt,
            started_at=now(),
            ended_at=None,
            exit_code=None,
            message="",
        )
        self.view.target_started(target.name, reading.phase, attempt)
        args = [*s.command(target, "apply", "--to", self.to), "--operator", self.ctx.operator]
        if self.yes:
            args.append("--yes")
        child = s.child(
            target,
            args,
            on_event=lambda event: self._event(target.name, event),
            on_start=lambda pid: book.update(
                target.name, pids=[*book.target(target.name).pids, pid]
            ),
        )
        with self.lock:
            self.under_way.add(child)
            if self.halt.stop.is_set():
                child.interrupt()  # a signal came as it was about to start
        try:
            result = child.run()
        finally:
            with self.lock:
                self.under_way.discard(child)
        code = result.exit_code  # its phase as the target says it (the command masks its
        after = s.read(target)  # document with its secrets: a password `dual` hides `dual`)
        known = result.phase if result.phase in s.plan.phases else reading.phase
        phase = after.phase if after.reachable else known
        runs = its_runs(s, book.rollout, target, book.target(target.name), result.run_ids)
        message = result.last_line or (f"exit {code}" if code else f"in {phase}")
        book.update(
            target.name,
            exit_code=code,
            phase=phase,
            runs=runs,
            message=with_target(target.name, message),
        )
        if code != 0 and runs == record.runs and settled(code) in (RETRIED | STOPPED):
            # it made no run (the plan's lock was held, a stop before it began): as before
            book.update(
                target.name,
                state=record.state,
                from_phase=record.from_phase,
                started_at=record.started_at,
                ended_at=record.ended_at,
            )
        elif code == 0 and phase == self.to and not result.run_ids:  # it found it there
            return self._in_phase(target, after.last_succeeded, book.target(target.name), attempt)
        elif code == 0 and phase == self.to:
            book.update(target.name, state="moved", ended_at=now())
        elif code == 0:
            book.update(target.name, state="failed", exit_code=1, ended_at=now())
            return int(ExitCode.CHECK_FAILED)
        return code

    def _in_phase(
        self, target: FleetTarget, last: RunRow | None, record: TargetRecord, attempt: int
    ) -> int:
        """The target is in the phase: moved by this rollout when the run that brought it
        there is one of its commands' (even one a killed fleet never heard end), else
        found there (another operator's run, another fleet's: never this rollout's)."""
        s, book, name = self.session, self.book, target.name
        ours = moved_by_it(book.rollout, name, record, last)
        runs = its_runs(s, book.rollout, target, record)
        run = f" (run {last.id})" if ours and last is not None else ""
        book.update(
            name,
            state="moved" if ours else "in_phase",
            phase=self.to,
            runs=runs,
            exit_code=0,
            attempts=max(attempt, record.attempts) if ours else attempt,
            message=f"in {self.to}{run}" if ours else f"already in {self.to}",
            ended_at=record.ended_at if ours and record.ended_at is not None else now(),
        )
        self.skipped.add(name)
        return int(ExitCode.OK)

    def _event(self, name: str, event: dict[str, Any]) -> None:
        self.view.target_event(name, event)
        if self.ctx.log_format == "json":
            line = json.dumps({**event, "target": name}, default=str)
            with self.lock:
                print(self.session.secrets.mask(line), file=self.ctx.err, flush=True)

    def _retrying(self, target: FleetTarget, code: int, delay: float) -> None:
        record = self.book.target(target.name)
        of = 1 + self.session.fleet.spec.retry.attempts
        self.view.retrying(target.name, code, delay, record.attempts + 1, of)

    def _ended(self, outcome: Outcome) -> None:
        name, code = outcome.target.name, outcome.code
        self.codes[name] = code
        record = self.book.target(name)
        if code in STOPPED:  # its run was interrupted: `fleet apply` again resumes it
            self.book.update(name, message=record.message or "stopped by a signal")
        elif code in RETRIED and record.state == "moved":  # moved before, unreadable now:
            self.book.update(name, attempts=outcome.attempts)  # still this rollout's to undo
        elif code in RETRIED:
            self.book.update(name, state="unreachable", attempts=outcome.attempts, ended_at=now())
        elif code in FAILED or (code is not None and code != 0):
            self.book.update(name, state="failed", ended_at=now())
        self.view.target_ended(name, self.book.target(name), self.to, name in self.skipped)

    # -- bake --------------------------------------------------------------------------------

    def _bake(self, wave: str, seconds: float, outcomes: list[Outcome]) -> None:
        moved = []
        for outcome in outcomes:
            record = self.book.target(outcome.target.name)
            if record.state == "moved":
                moved.append((outcome.target, record.from_phase))
        self.view.say(
            f"wave {wave}: baking for {elapsed(seconds)} (its post-checks looked at again)"
        )
        self.view.baking(wave, seconds)
        try:
            failure = bake(self.session, moved, seconds, self.halt.stop, self.to)
        finally:
            self.view.baking(None)
        if failure is not None:
            self.book.update(failure.target, message=self.session.secrets.mask(failure.message))
            self.halt.request_stop(
                f"wave {wave}'s bake: target {failure.target}'s {failure.message}"
            )
            self.view.say(f"✗ {failure.target}: {failure.message}")
            self.codes[failure.target] = int(ExitCode.CHECK_FAILED)
        elif not self.halt.stop.is_set():
            self.view.say(f"wave {wave} baked: its post-checks held for {elapsed(seconds)}")

    # -- the end -----------------------------------------------------------------------------

    def _finish(self) -> ExitCode:
        book = self.book
        for name in self.codes:
            if book.target(name).state == "pending":
                book.update(name, state="not_started")
                self.view.not_started(name)
        names = set(self.codes)
        states = {n: r.state for n, r in book.rollout.targets.items() if n in names}
        code = fleet_exit_code(self.codes.values())
        if self.stopping.signum is not None:
            code = self.stopping.exit_code
        elif code == ExitCode.OK and (
            self.halt.halted or not all(s in DONE for s in states.values())
        ):
            code = ExitCode.CHECK_FAILED  # halted (a bake, an approval) with no failed target
        done = code == ExitCode.OK and all(state in DONE for state in states.values())
        book.set_status("completed" if done else "stopped", ended=True)
        if self.halt.reason:
            self.view.say(f"rollout stopped: {self.halt.reason}")
        self.view.say(summary_line(dict(Counter[str](states.values()))))
        self.view.say(f"ledger: {self.session.ledger.where} (rollout {book.rollout.id})")
        if self.ctx.output == "json":
            document = fleet_document(self.session, self.book.rollout, self.to, code)
            self.ctx.emit_json(self.session.secrets.mask_data(document))
        return code


class _StopAsking(Exception):
    """A signal came while a question waited for its answer."""
