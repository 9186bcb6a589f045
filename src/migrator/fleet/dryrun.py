"""`migrator fleet plan FLEET PLAN --to PHASE`: the dry run of every target.

Each target's `migrator plan PLAN --to PHASE` runs as a process of its own (the DSN in its
environment), wave by wave, `parallel` at a time, exit 4 and 5 tried again as in a rollout;
no failure halts it (a dry run changes nothing, so every target is shown). Like `migrator
plan`, it writes nothing anywhere: not even schema `migrator` on a target that has none,
and no ledger. For each target: its phase now, the transitions it would take (or that it
is in the phase already), and the pre-checks that would fail today; `--output json` holds
each target's whole dry run document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode, UsageError
from migrator.fleet.rollout import Halt, Outcome, fleet_exit_code, run_wave
from migrator.fleet.targets import FleetTarget
from migrator.views.values import visible

if TYPE_CHECKING:
    from migrator.fleet.child import ChildResult
    from migrator.fleet.session import FleetSession


def plan_fleet(session: FleetSession, to: str | None) -> ExitCode:
    """Every target's dry run to `to` (a hotfix's default: `applied`); the fleet's exit code
    of the targets' `migrator plan` (0: each dry run was made, whatever it found)."""
    ctx = session.ctx
    target_phase = _phase_to(session, to)
    results: dict[str, ChildResult] = {}
    entries: list[dict[str, Any]] = []
    halt = Halt()

    def attempt(target: FleetTarget, _attempt: int) -> int:
        argv = session.command(target, "plan", "--to", target_phase)
        result = session.child(target, argv).run()
        results[target.name] = result
        return result.exit_code

    codes: list[int | None] = []
    for wave, targets in session.waves():
        if not targets:
            continue
        lenient = wave.model_copy(update={"max_failures": len(targets)})  # all are shown
        outcomes = run_wave(lenient, targets, attempt, retry=session.fleet.spec.retry, halt=halt)
        codes += [o.code for o in outcomes]
        wave_entries = [_entry(o, results.get(o.target.name)) for o in outcomes]
        entries += wave_entries
        if ctx.output != "json":
            ctx.say(f"wave {wave.name}: {len(targets)} target(s)")
            for entry in wave_entries:
                for line in target_lines(entry):  # read from the target: escapes shown
                    ctx.say(session.secrets.mask(visible(line)))
    code = fleet_exit_code(codes)
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
        ctx.say(
            f"dry run of {len(entries)} target(s) to {target_phase}: nothing was changed; "
            f"{failing} with a pre-check failing today, {errors} whose dry run failed"
        )
    return code


def _phase_to(session: FleetSession, to: str | None) -> str:
    if to:
        return to
    if session.plan.kind == "hotfix":
        return "applied"
    phases = ", ".join(session.plan.phases)
    raise UsageError(f"--to PHASE is required for a phased plan ({phases})")


def _entry(outcome: Outcome, result: ChildResult | None) -> dict[str, Any]:
    document = None if result is None else result.document
    phase = (document or {}).get("from")
    return {
        "name": outcome.target.name,
        "wave": outcome.target.wave,
        "exit_code": outcome.code,
        "attempts": outcome.attempts,
        "phase": phase if isinstance(phase, str) else None,
        "message": "" if result is None or outcome.code == 0 else result.last_line,
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
