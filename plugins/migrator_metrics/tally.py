"""What the metrics count of one command (`apply`, `rollback`, `resume`): its runs, steps,
checks, undos, retries, and each backfill's rows, batches, rate and waits, read from the
events of the trail and the progress reports; `families()` makes them metric families.

Counters count this command's work: the next command that begins a run starts again from
zero, which Prometheus' `rate()` and `increase()` read as a counter reset."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from migrator.plugin import CommandInfo, ProgressReport, RunEvent, RunInfo
from migrator_metrics.exposition import Family

RUN_STATES = (
    "prechecking",
    "awaiting_approval",
    "applying",
    "verifying",
    "succeeded",
    "failed",
    "undoing",
    "undone",
    "undo_failed",
    "interrupted",
)
RUN_OUTCOMES = ("succeeded", "failed", "undone", "undo_failed", "interrupted")
STEP_OUTCOMES = ("done", "failed", "skipped", "not_undone")
CHECK_OUTCOMES = ("passed", "failed", "warned")


@dataclass
class Backfill:
    """One long step's figures, from its progress reports."""

    walked: int = 0
    written: int | None = None
    estimated: int | None = None
    batches: int = 0
    rate: float | None = None
    waiting: bool = False
    waits: int = 0
    waited: float = 0.0  # seconds of the waits that ended
    wait_began: float = 0.0


@dataclass
class Tally:
    """Everything the metrics say of one command, masked as it is recorded."""

    command: CommandInfo
    started: float = field(default_factory=time.time)
    run: RunInfo | None = None
    status: str = ""
    run_started: float = 0.0
    runs: dict[str, int] = field(default_factory=dict)
    steps: dict[tuple[str, str], str] = field(default_factory=dict)  # (run, step) -> outcome
    undos: dict[str, int] = field(default_factory=dict)
    checks: dict[tuple[str, str], int] = field(default_factory=dict)  # (phase, outcome)
    durations: dict[str, float] = field(default_factory=dict)
    retries: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, step)
    backfills: dict[str, Backfill] = field(default_factory=dict)
    exit_code: int | None = None

    def event(self, run: RunInfo, event: RunEvent) -> bool:
        """Count `event` of `run`; whether a figure changed."""
        if self.run is None or self.run.run_id != run.run_id:
            self.run_started = event.at  # a run begins (a resume's at applying or undoing)
        self.run = run
        step = self.command.mask(event.step or "")
        if event.kind == "state":
            self.status = event.status
            if event.status in RUN_OUTCOMES:
                self.runs[event.status] = self.runs.get(event.status, 0) + 1
            return True
        key = f"{run.run_id}\n{step}"
        kind = event.kind
        if kind == "step" and self.command.command == "rollback":
            kind = "undo"  # a rollback's steps are undos (`undo NAME` in its trail)
        if kind == "step" and event.status in STEP_OUTCOMES:
            self.steps[(key, step)] = event.status
            self._duration(step, event)
            return True
        if kind in ("step", "undo") and event.status == "retry":
            if kind == "step":  # the step is tried again: its end is not told yet
                self.steps.pop((key, step), None)
            self.retries[(kind, step)] = self.retries.get((kind, step), 0) + 1
            return True
        if kind == "undo" and event.status in STEP_OUTCOMES:
            self.undos[event.status] = self.undos.get(event.status, 0) + 1
            return True
        if event.kind == "check" and event.status in CHECK_OUTCOMES:
            phase = str(event.detail.get("phase") or "")
            self.checks[(phase, event.status)] = self.checks.get((phase, event.status), 0) + 1
            return True
        return False

    def _duration(self, step: str, event: RunEvent) -> None:
        seconds = event.detail.get("seconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            self.durations[step] = float(seconds)

    def progress(self, run: RunInfo, report: ProgressReport) -> None:
        """Take the figures of `report`, a backfill's progress in `run`."""
        if self.run is None or self.run.run_id != run.run_id:
            self.run_started = report.at
        self.run = run
        fill = self.backfills.setdefault(self.command.mask(report.step), Backfill())
        fill.walked, fill.written, fill.estimated = (
            report.rows_done,
            report.rows_written,
            report.rows_total,
        )
        fill.batches = max(fill.batches, report.batches)
        fill.rate = report.rate if report.rate is not None else fill.rate
        waiting = bool(report.waiting) and not report.finished
        if waiting and not fill.waiting:
            fill.waits += 1
            fill.wait_began = report.at
        elif fill.waiting and not waiting:
            fill.waited += max(report.at - fill.wait_began, 0.0)
        fill.waiting = waiting

    def families(self, now: float) -> list[Family]:
        """The metric families, as of `now` (a wait under way counts until `now`)."""
        plan = self.command.mask(self.command.plan)
        return self._command_families(plan, now) + self._backfill_families(plan, now)

    def _command_families(self, plan: str, now: float) -> list[Family]:
        mask = self.command.mask
        info = Family("migrator_run_info", "gauge", "The run under way or last run: 1.")
        if self.run is not None:
            info.add(
                1,
                plan=plan,
                command=self.command.command,
                transition=mask(self.run.transition),
                source=mask(self.run.source),
                target=mask(self.run.target),
                run_id=str(self.run.run_id),
                database=mask(self.command.database),
            )
        status = Family(
            "migrator_run_status", "gauge", "The state of the current run: 1 for its state."
        )
        for state in RUN_STATES:
            status.add(1 if state == self.status else 0, plan=plan, status=state)
        started = Family(
            "migrator_run_started_timestamp_seconds", "gauge", "When the current run began."
        )
        if self.run_started:
            started.add(self.run_started, plan=plan)
        runs = Family("migrator_runs_total", "counter", "Runs ended, by outcome.")
        for outcome in RUN_OUTCOMES:
            runs.add(self.runs.get(outcome, 0), plan=plan, outcome=outcome)
        steps = Family("migrator_steps_total", "counter", "Steps ended, by outcome.")
        ended = list(self.steps.values())
        for outcome in STEP_OUTCOMES:
            steps.add(ended.count(outcome), plan=plan, outcome=outcome)
        undos = Family("migrator_undos_total", "counter", "Undos of steps ended, by outcome.")
        for outcome in STEP_OUTCOMES:
            undos.add(self.undos.get(outcome, 0), plan=plan, outcome=outcome)
        checks = Family(
            "migrator_checks_total", "counter", "Checks evaluated, by phase and verdict."
        )
        for phase in ("pre", "post"):
            for outcome in CHECK_OUTCOMES:
                checks.add(
                    self.checks.get((phase, outcome), 0), plan=plan, phase=phase, outcome=outcome
                )
        durations = Family(
            "migrator_step_duration_seconds", "gauge", "How long each step took, done or failed."
        )
        for step, seconds in self.durations.items():
            durations.add(seconds, plan=plan, step=step)
        retries = Family(
            "migrator_retries_total", "counter", "Attempts of a step or an undo done again."
        )
        for (kind, step), count in self.retries.items():
            retries.add(count, plan=plan, step=step, kind=kind)
        updated = Family(
            "migrator_last_update_timestamp_seconds",
            "gauge",
            "When these figures were last written.",
        )
        updated.add(now, plan=plan)
        command = Family(
            "migrator_command_running", "gauge", "1 while the command runs, 0 once it ended."
        )
        command.add(1 if self.exit_code is None else 0, plan=plan, command=self.command.command)
        families = [info, status, started, runs, steps, undos, checks, durations, retries]
        families += [updated, command]
        if self.exit_code is not None:
            code = Family(
                "migrator_command_exit_code", "gauge", "The exit code the command ended with."
            )
            code.add(self.exit_code, plan=plan, command=self.command.command)
            families.append(code)
        return families

    def _backfill_families(self, plan: str, now: float) -> list[Family]:
        walked = Family("migrator_backfill_rows_walked_total", "counter", "Rows a backfill walked.")
        written = Family(
            "migrator_backfill_rows_written_total", "counter", "Rows a backfill's statement wrote."
        )
        estimated = Family(
            "migrator_backfill_rows_estimated", "gauge", "The rows a backfill expects to walk."
        )
        batches = Family(
            "migrator_backfill_batches_total", "counter", "Batches a backfill committed."
        )
        rate = Family(
            "migrator_backfill_rows_per_second", "gauge", "A backfill's recent rate, rows a second."
        )
        waiting = Family(
            "migrator_backfill_waiting", "gauge", "1 while a backfill waits (paused, throttled)."
        )
        waits = Family("migrator_backfill_waits_total", "counter", "Waits of a backfill begun.")
        waited = Family(
            "migrator_backfill_waited_seconds_total", "counter", "Seconds a backfill waited."
        )
        for step, fill in self.backfills.items():
            labels = {"plan": plan, "step": step}
            walked.add(fill.walked, **labels)
            if fill.written is not None:
                written.add(fill.written, **labels)
            if fill.estimated is not None:
                estimated.add(fill.estimated, **labels)
            batches.add(fill.batches, **labels)
            if fill.rate is not None:
                rate.add(fill.rate, **labels)
            waiting.add(1 if fill.waiting else 0, **labels)
            waits.add(fill.waits, **labels)
            ongoing = max(now - fill.wait_began, 0.0) if fill.waiting else 0.0
            waited.add(fill.waited + ongoing, **labels)
        return [walked, written, estimated, batches, rate, waiting, waits, waited]
