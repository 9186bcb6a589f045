"""`migrator fleet status FLEET PLAN`: each target's phase and last run, read from the target
itself (its own `migrator` schema, read only), in parallel, each within the fleet's
`timeout`; joined with what the plan's latest rollout in the ledger did to it.

The ledger is only read: status never holds it, so it runs beside a `fleet apply` under
way (and shows that rollout as it stands). A target that cannot be read in time is
marked unreachable with its reason, and the others are shown all the same: exit 5 then.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode, MigratorError
from migrator.fleet.ledger import RolloutRecord, dumped
from migrator.fleet.reading import TargetReading
from migrator.fleet.targets import FleetTarget

if TYPE_CHECKING:
    from migrator.fleet.session import FleetSession
    from migrator.state import RunRow

GONE = "not in the fleet file any more"
"""Why a target the latest rollout moved is not read."""

MAX_READERS = 16
"""At most this many targets are read at once."""


def fleet_status(session: FleetSession) -> ExitCode:
    """Read every target, show them with the ledger's latest rollout; 0 when every target
    was read, 5 when one could not be."""
    from migrator.views.fleet_status import render_fleet_status

    ctx = session.ctx
    timeout = float(session.fleet.spec.timeout)
    readers = min(MAX_READERS, max(1, len(session.targets)))
    rounds = math.ceil(len(session.targets) / readers)
    # a read: its connection (libpq waits 2s at least) and a few statements, each bounded
    readings = read_all(session.targets, session.read, readers, rounds * 2 * max(timeout, 2.0) + 1)
    rollout, ledger_error = _latest_rollout(session)
    document = status_document(session, readings, rollout, ledger_error)
    if ctx.output == "json":
        ctx.emit_json(session.secrets.mask_data(document))
    else:
        render_fleet_status(document, ctx.out, session.secrets)
    if any(not r.reachable for r in readings):  # a target gone from the file: not counted
        return ExitCode.UNREACHABLE
    return ExitCode.OK


def read_all(
    targets: list[FleetTarget],
    read: Callable[[FleetTarget], TargetReading],
    readers: int,
    wait: float,
) -> list[TargetReading]:
    """`read` of every target, `readers` at a time, in the targets' order.

    Each read bounds itself (connect and statement timeouts); the wait for all of them is
    bounded too, at `wait` seconds: a target whose read has not ended by then is marked as
    not answering, and its reader (a daemon thread) is left behind, never holding the
    others or the command's exit.
    """
    if not targets:
        return []
    work: queue.Queue[int] = queue.Queue()
    for index in range(len(targets)):
        work.put(index)
    results: dict[int, TargetReading] = {}
    done = threading.Condition()

    def reader() -> None:
        while True:
            try:
                index = work.get_nowait()
            except queue.Empty:
                return
            reading = read(targets[index])
            with done:
                results[index] = reading
                done.notify_all()

    for n in range(readers):
        threading.Thread(target=reader, name=f"fleet-status-{n}", daemon=True).start()
    with done:
        done.wait_for(lambda: len(results) == len(targets), timeout=wait)
        finished = dict(results)
    late = f"did not answer within {wait:g}s"
    return [finished.get(i) or TargetReading(t, error=late) for i, t in enumerate(targets)]


def _latest_rollout(session: FleetSession) -> tuple[RolloutRecord | None, str | None]:
    """The plan's latest rollout in the ledger (read, never held); or why it could not be
    read (the targets are shown all the same)."""
    try:
        document = session.ledger.load()
    except MigratorError as exc:
        return None, session.secrets.mask(str(exc))
    return document.latest(session.plan.name), None


def _run(run: RunRow | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "transition": run.transition,
        "from": run.from_phase,
        "to": run.to_phase,
        "status": run.status,
        "reverts": run.reverts,
        "operator": run.operator,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def status_document(
    session: FleetSession,
    readings: list[TargetReading],
    rollout: RolloutRecord | None,
    ledger_error: str | None = None,
) -> dict[str, Any]:
    """The `--output json` document (the text view is drawn from it too)."""
    targets = []
    for reading in readings:
        target = reading.target
        record = None if rollout is None else rollout.targets.get(target.name)
        targets.append(
            {
                "name": target.name,
                "wave": target.wave,
                "group": target.group,
                "reachable": reading.reachable,
                "error": reading.error,
                "phase": reading.phase,
                "last_run": _run(reading.last_run),
                "open_run": _run(reading.open_run),
                "ledger_state": None if record is None else record.state,
                "ledger_from_phase": None if record is None else record.from_phase,
                "ledger_runs": [] if record is None else list(record.runs),
                "in_fleet": True,
            }
        )
    # a target the rollout moved that the fleet file no longer names: still listed (its
    # record says so; it is not read: its DSN is no longer known)
    listed = {reading.target.name for reading in readings}
    moved = [] if rollout is None else [(n, rollout.targets[n]) for n in rollout.moved()]
    for name, record in moved:
        if name in listed:
            continue
        targets.append(
            {
                "name": name,
                "wave": record.wave,
                "group": None,
                "reachable": False,
                "error": GONE,
                "phase": record.phase,
                "last_run": None,
                "open_run": None,
                "ledger_state": record.state,
                "ledger_from_phase": record.from_phase,
                "ledger_runs": list(record.runs),
                "in_fleet": False,
            }
        )
    return {
        "fleet": session.fleet.name,
        "plan": session.plan.name,
        "plan_file": str(session.plan_file),
        "ledger": session.ledger.where,
        "ledger_error": ledger_error,
        "rollout": None if rollout is None else dumped(rollout),
        "targets": targets,
    }
