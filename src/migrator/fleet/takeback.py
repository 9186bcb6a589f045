"""One target of `fleet rollback`: what to take back is decided from the TARGET itself.

A run of the target is the rollout's when one of the rollout's commands made it (its
`migrator.runs` row's host and pid among the ledger's `pids`: `RolloutRecord.made_by_it`),
or its id is among the ledger's `runs` (or it undoes one of them). Reading the target, one
step at a time until it is back in the phase the rollout found it in (`from_phase`):

- a run open on it (interrupted, its undo failed) that is not the rollout's: someone else's
  work, `moved_since`, untouched; one that is the rollout's: `migrator rollback` undoes it;
- in `from_phase`, nothing open: back (`rolled_back`);
- its last completed run not the rollout's: `moved_since`, untouched (a target whose
  ledger state does not say the rollout moved it, e.g. `failed`, is then simply not this
  rollout's to take back);
- its last completed run a transition of the rollout's way forward: `migrator rollback`
  takes it back;
- else (the rollout's last transition already taken back, not yet in `from_phase`):
  `migrator apply --to FROM_PHASE`, the plan's own way back (its reverse transitions); a
  plan with none: `rollback_failed`, with the reason.

Each command is a process of its own (`Child`), its pid recorded in the ledger before it
starts (so its runs are the rollout's too), given the target's vars, the apply's `--var`s
(recorded in the ledger) and this command's (these win).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode
from migrator.fleet.child import Child
from migrator.fleet.ledger import Book, TargetRecord, now
from migrator.fleet.reading import TargetReading
from migrator.fleet.targets import FleetTarget

if TYPE_CHECKING:
    from migrator.fleet.session import FleetSession
    from migrator.state import RunRow

MOVED = ("moved", "running", "rollback_failed", "moved_since")
"""Ledger states that say the rollout moved the target (or may have: `running`)."""
SKIPPED = -1
"""`take_back`'s answer for a target with nothing of the rollout's to take back."""


def candidates(record_states: dict[str, TargetRecord]) -> list[str]:
    """The targets `fleet rollback` reads: those the ledger says the rollout moved (or
    whose command it never heard end), and every other one a command of the rollout ran on
    (a failed target may have been moved part of its way)."""
    return [
        name
        for name, record in record_states.items()
        if record.state in MOVED
        or (
            record.state not in ("rolled_back", "in_phase", "pending", "not_started")
            and (record.runs or record.pids)
        )
    ]


@dataclass
class TakeBack:
    """Takes one target back to its `from_phase`; `run` passes each `Child` to `started`
    (the rollback's signal handling) and returns its exit code."""

    session: FleetSession
    book: Book
    target: FleetTarget
    started: Callable[[Child], bool]
    """Given each command before it runs: False when a stop came (it must not run)."""
    finished: Callable[[Child], None]
    on_event: Callable[[dict[str, Any]], None]

    @property
    def name(self) -> str:
        return self.target.name

    def ours(self, run: RunRow) -> bool:
        record = self.book.target(self.name)
        runs = set(record.runs)
        return (
            run.id in runs
            or (run.reverts is not None and run.reverts in runs)
            or self.book.rollout.made_by_it(self.name, run.host, run.pid)
        )

    def forward(self, run: RunRow) -> bool:
        """Whether `run` is a transition of the rollout's way from `from_phase` to its phase
        (not an undo, not a step of the way back)."""
        from migrator.plan.graph import NoPath, find_path

        record = self.book.target(self.name)
        if run.reverts is not None or record.from_phase is None:
            return False
        try:
            way = find_path(self.session.plan, record.from_phase, self.book.rollout.to)
        except NoPath:
            return run.to_phase != record.from_phase
        return run.transition in {t.name for t in way}

    def read(self) -> TargetReading:
        return self.session.read(self.target)

    def run(self) -> int:
        record = self.book.target(self.name)
        moved = record.state in MOVED
        from_phase = record.from_phase
        if from_phase is None:
            return self._unknown("the phase the rollout found it in is not recorded")
        tried: set[tuple[str, str | None, int | None]] = set()
        for step in range(2 + 2 * len(self.session.plan.transitions)):
            reading = self.read()
            if reading.error is not None:
                self.book.update(self.name, message=f"could not be read: {reading.error}")
                return ExitCode.UNREACHABLE
            open_run, phase = reading.open_run, reading.phase
            last = reading.last_succeeded
            if open_run is not None and not self.ours(open_run):
                if not moved and step == 0:
                    return SKIPPED
                return self._moved_since(
                    phase,
                    f"run {open_run.id} ({open_run.transition}) by {open_run.operator} "
                    f"is {open_run.status} there",
                )
            if open_run is None and phase == from_phase:
                if step == 0 and not moved:
                    return SKIPPED
                said = "already in phase" if step == 0 else "back in phase"
                self.book.update(
                    self.name,
                    state="rolled_back",
                    phase=phase,
                    exit_code=0,
                    message=f"{said} {phase}" + (": nothing to do" if step == 0 else ""),
                    ended_at=now(),
                )
                return ExitCode.OK
            if open_run is None and (last is None or not self.ours(last)):
                if step == 0 and not moved:
                    return SKIPPED
                if step == 0 and not record.pids and not record.runs:
                    return self._unknown(
                        f"it is in phase {phase}, and the ledger holds no pid or run of the "
                        "rollout's command on it (a ledger of an older fleet apply)"
                    )
                since = (
                    "no completed run"
                    if last is None
                    else (f"run {last.id} ({last.transition}, by {last.operator})")
                )
                return self._moved_since(
                    phase, f"its last completed run is {since}, not one of this rollout's"
                )
            seen = open_run or last
            if open_run is not None or (last is not None and self.forward(last)):
                args = ["rollback"]
            else:
                args = ["apply", "--to", from_phase]
            action = (args[0], phase, None if seen is None else seen.id)
            if action in tried:  # the same command again on the same run: no progress
                return self._failed(
                    int(ExitCode.CHECK_FAILED),
                    phase,
                    f"`migrator {args[0]}` left it in phase {phase}, not {from_phase}",
                )
            tried.add(action)
            try:
                code, said = self._command(args)
            except _NotStarted:  # a stop came first: the target left as it is
                return int(ExitCode.SIGINT)
            if code != ExitCode.OK:
                if args[0] == "apply" and code == ExitCode.INVALID:
                    said = f"no way back from phase {phase} to {from_phase}: {said}"
                return self._failed(code, phase, said)
        return self._failed(int(ExitCode.CHECK_FAILED), None, f"not back in {from_phase}")

    def _command(self, args: list[str]) -> tuple[int, str]:
        s = self.session
        ctx = s.ctx
        line = s.command(self.target, *args, "--operator", ctx.operator, variables=False)
        record = self.book.rollout
        merged = {**self.target.vars, **record.variables, **ctx.variables}
        for key, value in merged.items():
            line += ["--var", f"{key}={value}"]
        if ctx.assume_yes:
            line.append("--yes")

        def on_start(pid: int) -> None:
            pids = self.book.target(self.name).pids
            self.book.update(self.name, pids=[*pids, pid])

        child = s.child(self.target, line, on_event=self.on_event, on_start=on_start)
        if not self.started(child):
            raise _NotStarted
        try:
            result = child.run()
        finally:
            self.finished(child)
        known = self.book.target(self.name).runs
        self.book.update(
            self.name,
            runs=[*known, *(r for r in result.run_ids if r not in known)],
            exit_code=result.exit_code,
        )
        return result.exit_code, result.last_line or f"exit {result.exit_code}"

    def _failed(self, code: int, phase: str | None, message: str) -> int:
        record = self.book.target(self.name)
        self.book.update(
            self.name,
            state="rollback_failed",
            phase=phase or record.phase,
            exit_code=code,
            message=message,
            ended_at=now(),
        )
        return code

    def _moved_since(self, phase: str | None, why: str) -> int:
        self.book.update(
            self.name,
            state="moved_since",
            phase=phase,
            exit_code=int(ExitCode.CHECK_FAILED),
            message=f"moved since this rollout: {why}; not touched",
            ended_at=now(),
        )
        return ExitCode.OK  # a refusal, not a failure of the wave: the others go on

    def _unknown(self, why: str) -> int:
        self.book.update(
            self.name,
            exit_code=int(ExitCode.CHECK_FAILED),
            message=f"not taken back: {why}; see `migrator history` on it",
        )
        return int(ExitCode.CHECK_FAILED)


class _NotStarted(Exception):
    """A stop came before the command started: it never ran."""
