"""The cells of the fault matrix: {where the run stops} x {fault} x {how it is settled}.

Three phases of a run are stopped: `apply` (the forward run of the plan),
`auto-undo` (the undo an apply runs by itself after a post-check failed) and
`rollback` (`migrator rollback` taking a completed apply back, a run of its own whose
steps are the undos). Each stop names the gate that holds the run there (see
gates.py) and what `migrator status` must say about the run it left behind.

A `takeover` freezes the process there (SIGSTOP), ends its sessions, lets another
process settle the run, then wakes it: it must stop with exit 4 having done nothing more.

The fast subset (FAST) is one cell per fault and phase (one in all for the outage, whose
exit 5 tests/faults/test_lost_database.py also shows); the rest is marked nightly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.faults.scenario import GATED_BATCH, STEPS

FAULTS = ("sigkill", "terminate", "restart", "outage", "sigint", "sigterm", "takeover")
SETTLES = ("resume", "rollback")


@dataclass(frozen=True)
class Stop:
    """A moment of a run where a fault strikes."""

    phase: str  # apply | auto-undo | rollback
    name: str
    table: str  # events | checkpoints: the row whose write is held
    match: dict[str, Any]
    recorded: str  # the run's status as recorded at that moment
    last_done: str | None  # the last step recorded done
    between_batches: bool = False  # then held again, at the next batch, with nothing open

    @property
    def id(self) -> str:
        return f"{self.phase}:{self.name}"

    @property
    def running(self) -> str | None:
        """The step under way at this moment: started, not recorded done."""
        if self.table == "checkpoints":
            return "s3"
        if self.match.get("kind") == "step" and self.match.get("status") == "done":
            return str(self.match["step"])
        return None


def _step(status: str, step: str) -> dict[str, Any]:
    return {"kind": "step", "status": status, "step": step}


def _apply_stops() -> list[Stop]:
    stops = []
    for i, step in enumerate(STEPS):
        before = STEPS[i - 1] if i else None
        stops.append(
            Stop("apply", f"before {step}", "events", _step("started", step), "applying", before)
        )
        if step == "s3":  # the backfill: mid-batch, between batches, all batches but not done
            stops += [
                Stop(
                    "apply",
                    "s3 mid-batch",
                    "checkpoints",
                    {"batches_done": GATED_BATCH},
                    "applying",
                    before,
                ),
                Stop(
                    "apply",
                    "s3 between batches",
                    "checkpoints",
                    {"batches_done": GATED_BATCH},
                    "applying",
                    before,
                    between_batches=True,
                ),
                Stop(
                    "apply",
                    "s3 every batch, done not recorded",
                    "events",
                    _step("done", step),
                    "applying",
                    before,
                ),
            ]
        else:
            stops.append(
                Stop("apply", f"inside {step}", "events", _step("done", step), "applying", before)
            )
    stops.append(
        Stop(
            "apply",
            "after s5, before post-checks",
            "events",
            {"kind": "state", "status": "verifying"},
            "applying",
            "s5",
        )
    )
    return stops


def _auto_undo_stops() -> list[Stop]:
    # An undo in a transaction commits with its `done` event: stopped on that event, the
    # undo has run and nothing of it is committed, which is also "before" it.
    stops = [
        Stop(
            "auto-undo",
            "undo begins",
            "events",
            {"kind": "state", "status": "undoing"},
            "verifying",
            "s5",
        )
    ]
    stops += [
        Stop(
            "auto-undo",
            f"inside undo {step}",
            "events",
            {"kind": "undo", "status": "done", "step": step},
            "undoing",
            "s5",
        )
        for step in reversed(STEPS)
    ]
    stops.append(
        Stop(
            "auto-undo",
            "undo ends",
            "events",
            {"kind": "state", "status": "undone"},
            "undoing",
            "s5",
        )
    )
    return stops


def _rollback_stops() -> list[Stop]:
    stops = []
    undos = [f"undo {s}" for s in reversed(STEPS)]
    for i, undo in enumerate(undos):
        before = undos[i - 1] if i else None
        stops.append(
            Stop("rollback", f"before {undo}", "events", _step("started", undo), "applying", before)
        )
        stops.append(
            Stop("rollback", f"inside {undo}", "events", _step("done", undo), "applying", before)
        )
    stops.append(
        Stop(
            "rollback",
            "after undo s1, before the run ends",
            "events",
            {"kind": "state", "status": "verifying"},
            "applying",
            undos[-1],
        )
    )
    return stops


STOPS = _apply_stops() + _auto_undo_stops() + _rollback_stops()

# One cell per fault and phase runs in CI; the whole matrix runs nightly (.ci/nightly).
FAST = {
    ("sigkill", "apply:s3 mid-batch", "resume"),
    ("sigkill", "auto-undo:inside undo s3", "rollback"),
    ("sigkill", "rollback:inside undo s4", "resume"),
    ("terminate", "apply:s3 between batches", "rollback"),
    ("terminate", "auto-undo:inside undo s4", "resume"),
    ("terminate", "rollback:before undo s2", "rollback"),
    ("restart", "apply:inside s4", "resume"),
    ("restart", "auto-undo:undo begins", "rollback"),
    ("restart", "rollback:inside undo s1", "resume"),
    ("outage", "auto-undo:inside undo s2", "resume"),
    ("sigint", "apply:s3 mid-batch", "resume"),
    ("sigint", "auto-undo:inside undo s3", "rollback"),
    ("sigterm", "apply:s3 between batches", "rollback"),
    ("sigterm", "rollback:inside undo s4", "resume"),
    ("takeover", "apply:s3 mid-batch", "resume"),
    ("takeover", "apply:inside s4", "rollback"),
    ("takeover", "auto-undo:inside undo s3", "resume"),
    ("takeover", "rollback:inside undo s4", "rollback"),
}


@dataclass(frozen=True)
class Cell:
    fault: str
    stop: Stop
    settle: str

    @property
    def id(self) -> str:
        return f"{self.fault}-{self.stop.id}-{self.settle}".replace(" ", "_").replace(",", "")


def cells() -> list[Any]:
    """Every cell as a pytest param, the cells outside FAST marked nightly."""
    params = []
    for fault in FAULTS:
        for stop in STOPS:
            for settle in SETTLES:
                cell = Cell(fault, stop, settle)
                fast = (fault, stop.id, settle) in FAST
                marks = () if fast else (pytest.mark.nightly,)
                params.append(pytest.param(cell, id=cell.id, marks=marks))
    return params
