"""`migrator fleet plan FLEET PLAN --to PHASE`: the dry run of every target.

Each target's `migrator plan PLAN --to PHASE` runs as a process of its own (the DSN in its
environment), wave by wave, `parallel` at a time; no failure halts it (a dry run changes
nothing, so every target is shown). Like `migrator plan`, it writes nothing anywhere: not
even schema `migrator` on a target that has none, and no ledger. For each target: its
phase now, the transitions it would take (or that it is in the phase already), and the
pre-checks that would fail today; `--output json` holds each target's whole dry run
document.

No retries (the dry run is of now), and each target's is bounded (`--timeout`, default
the fleet's `timeout`, at least 60 s): a target over it is stopped and reported as exit
5, "did not answer within N s". Ctrl-C stops the dry runs under way at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode, UsageError
from migrator.fleet.child import Child
from migrator.fleet.model import Retry
from migrator.fleet.rollout import Halt, Outcome, Stopping, fleet_exit_code, run_wave
from migrator.fleet.targets import FleetTarget
from migrator.views.values import visible

if TYPE_CHECKING:
    from migrator.fleet.child import ChildResult
    from migrator.fleet.session import FleetSession


DRY_RUN_LEAST = 60.0
"""A target's dry run is given the fleet's `timeout`, but never less than this (its
pre-checks run queries), unless `--timeout` says otherwise."""
KILL_AFTER = 10.0
"""A dry run interrupted (twice) that has not ended this long after is killed."""


def plan_fleet(session: FleetSession, to: str | None, timeout: float | None = None) -> ExitCode:
    """Every target's dry run to `to` (a hotfix's default: `applied`); the fleet's exit code
    of the targets' `migrator plan` (0: each dry run was made, whatever it found).

    No retries (a dry run is asked for now); each target's is bounded by `timeout`
    (default: the fleet's, at least 60 s): one over it is stopped and is exit 5, the others
    go on. A Ctrl-C (or SIGTERM) stops the dry runs under way at once: exit 130 (143)."""
    ctx = session.ctx
    target_phase = _phase_to(session, to)
    bound = (
        timeout if timeout is not None else max(float(session.fleet.spec.timeout), DRY_RUN_LEAST)
    )
    results: dict[str, ChildResult] = {}
    late: set[str] = set()
    entries: list[dict[str, Any]] = []
    halt = Halt()
    running: set[Child] = set()
    lock = threading.Lock()

    def stop_at_once(child: Child) -> None:
        child.interrupt()
        child.interrupt()

    def overdue(name: str, child: Child) -> None:
        late.add(name)
        stop_at_once(child)
        killer = threading.Timer(KILL_AFTER, _kill, (child,))
        killer.daemon = True
        killer.start()

    def attempt(target: FleetTarget, _attempt: int) -> int:
        argv = session.command(target, "plan", "--to", target_phase)
        child = session.child(target, argv)
        with lock:
            running.add(child)
            if halt.stop.is_set():
                stop_at_once(child)
        timer = threading.Timer(bound, overdue, (target.name, child))
        timer.daemon = True
        timer.start()
        try:
            result = child.run()
        finally:
            timer.cancel()
            with lock:
                running.discard(child)
        results[target.name] = result
        return int(ExitCode.UNREACHABLE) if target.name in late else result.exit_code

    def signalled(signum: int) -> None:
        halt.request_stop("SIGTERM" if signum == signal.SIGTERM else "SIGINT")
        with lock:
            for child in running:
                stop_at_once(child)

    def say(line: str) -> None:
        """A line for a person, masked; on a terminal wrapped to its width at its indent."""
        from migrator.views.console import terminal_width, wrapped
        from migrator.views.markdown import is_terminal

        line = session.secrets.mask(line)
        if ctx.output != "json" and is_terminal(ctx.out):
            width = terminal_width(ctx.out)
            indent = " " * (len(line) - len(line.lstrip(" ")))
            line = wrapped(line.lstrip(" "), width, indent, indent + "  ")
            line = "\n".join(_folded(each, width) for each in line.rstrip("\n").split("\n"))
        ctx.say(line.rstrip("\n"))

    codes: list[int | None] = []
    no_retry = Retry(attempts=0)
    with Stopping(signalled).handling():
        for wave, targets in session.waves():
            if not targets or halt.halted:
                continue
            lenient = wave.model_copy(update={"max_failures": len(targets)})  # all are shown
            outcomes = run_wave(lenient, targets, attempt, retry=no_retry, halt=halt)
            codes += [o.code for o in outcomes]
            wave_entries = [
                _entry(o, results.get(o.target.name), bound if o.target.name in late else None)
                for o in outcomes
            ]
            entries += wave_entries
            if ctx.output != "json":
                say(f"wave {wave.name}: {len(targets)} target(s)")
                for entry in wave_entries:
                    for line in target_lines(entry):  # read from the target: escapes shown
                        say(visible(line))
    code = fleet_exit_code(codes)
    if halt.stop.is_set():
        code = ExitCode.SIGTERM if halt.reason == "SIGTERM" else ExitCode.SIGINT
    if ctx.output == "json":
        ctx.emit_json(
            session.secrets.mask_data(
                {
                    "fleet": session.fleet.name,
                    "plan": session.plan.name,
                    "to": target_phase,
                    "exit_code": int(code),
                    "targets": entries,
                }
            )
        )
    else:
        failing = sum(1 for e in entries if failed_checks(e["document"]))
        errors = sum(1 for e in entries if e["exit_code"] != 0)
        say(
            f"dry run of {len(entries)} target(s) to {target_phase}: nothing was changed; "
            f"{failing} with a pre-check failing today, {errors} whose dry run failed"
        )
        if halt.stop.is_set():
            say(f"stopped by {halt.reason}: the targets after were not dry run")
    return code


def _folded(line: str, width: int) -> str:
    """A line still too wide after wrapping (one long word: a target's name) cut into
    pieces that fit, at its indent; a path or a DSN (a `/` or `=` in it) is left whole."""
    if len(line) <= width or "/" in line or "=" in line:
        return line
    indent = " " * (len(line) - len(line.lstrip(" ")))
    room = max(width - len(indent), 10)
    text = line.lstrip(" ")
    return "\n".join(indent + text[i : i + room] for i in range(0, len(text), room))


def _kill(child: Child) -> None:
    process = child.process
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _phase_to(session: FleetSession, to: str | None) -> str:
    if to:
        return to
    if session.plan.kind == "hotfix":
        return "applied"
    phases = ", ".join(session.plan.phases)
    raise UsageError(f"--to PHASE is required for a phased plan ({phases})")


def _entry(outcome: Outcome, result: ChildResult | None, late: float | None) -> dict[str, Any]:
    document = None if result is None or late is not None else result.document
    phase = (document or {}).get("from")
    if late is not None:
        message = f"did not answer within {late:g} s (stopped)"
    else:
        message = "" if result is None or outcome.code == 0 else result.last_line
    return {
        "name": outcome.target.name,
        "wave": outcome.target.wave,
        "exit_code": outcome.code,
        "attempts": outcome.attempts,
        "phase": phase if isinstance(phase, str) else None,
        "message": message,
        "document": document,
    }


def failed_checks(document: dict[str, Any] | None) -> list[str]:
    """The pre-checks of a dry run document that fail today, as `transition: check
    (actual A, expected E)`."""
    failing = []
    for transition in (document or {}).get("path") or []:
        for check in transition.get("pre_checks") or []:
            today = check.get("today") or {}
            if today.get("passed") is False:
                failing.append(
                    f"{transition.get('name')}: {check.get('name')} (actual "
                    f"{today.get('actual')!r}, expected {today.get('expected')})"
                )
    return failing


def target_lines(entry: dict[str, Any]) -> list[str]:
    """One target's dry run for a person: where it is, where it would go, what fails."""
    name, document = entry["name"], entry["document"]
    if entry["exit_code"] != 0 or document is None:
        why = entry["message"] or "no dry run document"
        return [f"  {name}: dry run failed (exit {entry['exit_code']}): {why}"]
    path = document.get("path") or []
    if not path:
        return [f"  {name}: already in phase {document.get('to')}"]
    steps = " -> ".join(str(t.get("name")) for t in path)
    lines = [f"  {name}: {document.get('from')} -> {document.get('to')} by {steps}"]
    lines += [f"    pre-check FAILS today: {check}" for check in failed_checks(document)]
    return lines
