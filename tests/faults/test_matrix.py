"""The fault matrix: a five-step plan with a backfill, stopped at every step boundary and
inside steps, during apply, the automatic undo and `migrator rollback`; there the process
is killed (SIGKILL), its connections are terminated from the server, the server crashes
and starts again at once (restart), or crashes and stays down longer than the run waits
for it (outage), or the process is sent SIGINT or SIGTERM (the step in flight finishes,
the run stops at its next safe point, exit 130 or 143, or ends as it would have when no
safe point was left). Then `migrator status` must name what happened, and `resume` or
`rollback` must reach a phase with exactly the data of a clean run to that phase, no lock
held, and an audit trail that tells the story.

A terminated connection or a restart is survived: the run reconnects and finishes by
itself. A SIGKILL or an outage leaves the run interrupted exactly where it stopped. A
takeover is a process cut off (frozen, its sessions ended) while another process settles
its run: woken afterwards, it stops with exit 4 and does nothing more (fencing).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.gates import Gate
from tests.faults.matrix import Cell, cells
from tests.faults.scenario import PLAN, ROWS, STEPS, query, seed, snapshot
from tests.faults.servers import RestartableServer, terminate_migrator_backends
from tests.helpers import Cli, fresh_database
from tests.processes import sigkill, spawn, wait_for
from tests.signals import FIRST_SIGNAL_HANDLED, wait_for_line

SIGNALLED = {"sigint": (signal.SIGINT, 130), "sigterm": (signal.SIGTERM, 143)}

# What the run under fault is, and the phase it ends in when nothing goes wrong.
START = {"apply": "before", "auto-undo": "before", "rollback": "after"}
CLEAN_END = {"apply": ("after", 0), "auto-undo": ("before", 1), "rollback": ("before", 0)}
SETTLED = {  # the phase each way of settling reaches
    "resume": {"apply": "after", "auto-undo": "before", "rollback": "before"},
    "rollback": {"apply": "before", "auto-undo": "before", "rollback": "before"},
}


class FaultedRun:
    """One cell, played: the run, held at its stop, struck, looked at, settled."""

    def __init__(
        self, cell: Cell, dsn: str, plan: Path, cli: Cli, server: RestartableServer | None
    ) -> None:
        self.cell = cell
        self.stop = cell.stop
        self.dsn = dsn
        self.plan = plan
        self.cli = cli
        self.server = server
        self.vars = ["--var", "verdict=fail"] if self.stop.phase == "auto-undo" else []

    def run(self, reference: dict[str, Any]) -> None:
        seed(self.dsn)
        if self.stop.phase == "rollback":
            applied = self.cli(self.dsn, "apply", self.plan, "--to", "after")
            assert applied.code == 0, applied.text
            command = ["rollback", self.plan]
        else:
            command = ["apply", self.plan, "--to", "after"]
        run_id = 2 if self.stop.phase == "rollback" else 1  # the run the fault struck
        if self.cell.fault == "takeover":
            self.strike([*command, *self.vars], lambda: self.settle(run_id, True, reference))
            self.settled(run_id, True, SETTLED[self.cell.settle][self.stop.phase], reference)
            return
        code, err = self.strike([*command, *self.vars])
        left_open = self.look(code, err)
        self.settle(run_id, left_open, reference)

    # -- the fault ------------------------------------------------------------------------

    def strike(
        self, command: list[Any], meanwhile: Callable[[], None] | None = None
    ) -> tuple[int, str]:
        """Start the run, hold it at its stop, strike; (exit code, stderr) of the process.

        A takeover calls `meanwhile` (another process settling the run) while the
        process is frozen and cut off, then wakes it: it must stop with exit 4."""
        gate = Gate(self.dsn)
        try:
            gate.at_row(self.stop.table, **self.stop.match)
            outage = self.cell.fault == "outage"
            env = {"MIGRATOR_RECONNECT_TIMEOUT": "1"} if outage else None
            proc = spawn(*command, "--dsn", self.dsn, env=env)
            try:
                wait_for(lambda: gate.reached_row() is not None, timeout=60, proc=proc)
                if self.stop.between_batches:
                    gate.at_table("migrator.controls")
                    gate.open_row()  # the batch commits; the next one waits to read controls
                    wait_for(
                        lambda: gate.reached_table("migrator.controls") is not None,
                        timeout=60,
                        proc=proc,
                    )
                if self.cell.fault == "sigkill":
                    code = sigkill(proc)
                    gate.open()
                    return code, ""
                if self.cell.fault in SIGNALLED:
                    os.kill(proc.pid, SIGNALLED[self.cell.fault][0])
                    seen: list[str] = []
                    wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
                    gate.open()  # what is in flight goes on, to the next safe point
                    out, err = proc.communicate(timeout=120)
                    return proc.returncode, out + "".join(seen) + err
                if self.cell.fault == "takeover":
                    assert meanwhile is not None
                    os.kill(proc.pid, signal.SIGSTOP)
                    try:
                        assert terminate_migrator_backends(self.dsn), "no migrator connection"
                        gate.open()
                        meanwhile()
                    finally:
                        os.kill(proc.pid, signal.SIGCONT)
                    out, err = proc.communicate(timeout=120)
                    assert proc.returncode == 4, out + err
                    assert "was taken over by" in err and "ran nothing more" in err, err
                    return proc.returncode, out + err
                if self.cell.fault == "terminate":
                    assert terminate_migrator_backends(self.dsn), "no migrator connection found"
                elif self.cell.fault == "restart":
                    assert self.server is not None
                    self.server.crash_and_restart()
                else:
                    assert self.server is not None
                    self.server.crash()
                    try:  # down until the run gives up
                        out, err = proc.communicate(timeout=120)
                    finally:
                        self.server.start()
                    gate.open()
                    return proc.returncode, out + err
                gate.open()
                out, err = proc.communicate(timeout=120)
                return proc.returncode, out + err
            finally:
                if proc.poll() is None:
                    sigkill(proc)
        finally:
            gate.close()

    # -- what status says -----------------------------------------------------------------

    def look(self, code: int, err: str) -> bool:
        """Check what the process did and what status says; whether the run was left open."""
        assert "Traceback" not in err, err
        doc = json.loads(self.cli(self.dsn, "status", self.plan, "--output", "json").out)
        assert doc["lock"]["held"] is False  # nobody is running: no lock may be left
        open_run = doc["open_run"]
        if self.cell.fault in ("terminate", "restart"):  # came through, finished the run
            phase, clean_code = CLEAN_END[self.stop.phase]
            assert (code, open_run, doc["phase"]) == (clean_code, None, phase), err
            return False
        if self.cell.fault in SIGNALLED:
            if open_run is None:  # no safe point was left: it ended as it would have
                assert (code, doc["phase"]) == CLEAN_END[self.stop.phase][::-1], err
                return False
            assert code == SIGNALLED[self.cell.fault][1], err
            assert open_run["state"] == open_run["status"] == "interrupted"
            assert doc["phase"] == START[self.stop.phase]
            assert "is left interrupted" in err and "migrator resume" in err, err
            return True
        if self.cell.fault == "outage":  # it gave up, clearly, as a lost database
            assert code == 5, err
            assert "error: lost the database" in err and "migrator resume" in err, err
        # left exactly where it stopped
        assert open_run is not None
        assert open_run["status"] == self.stop.recorded
        assert open_run["last_step_done"] == self.stop.last_done
        assert open_run["state"] == "interrupted"
        assert doc["phase"] == START[self.stop.phase]
        text = self.cli(self.dsn, "status", self.plan).out
        assert " is interrupted " in text and "migrator resume" in text, text
        return True

    # -- settling -------------------------------------------------------------------------

    def settle(self, run_id: int, left_open: bool, reference: dict[str, Any]) -> None:
        settle = self.cell.settle
        status = query(self.dsn, "select status from migrator.runs where id = %s", run_id)[0][0]
        if status == "interrupted":  # stopped by a signal: where it was then
            status = query(
                self.dsn,
                "select detail->>'from' from migrator.events where run_id = %s "
                "and kind = 'state' and status = 'interrupted' order by id desc limit 1",
                run_id,
            )[0][0]
        result = self.cli(self.dsn, settle, self.plan, *self.vars)
        expected_code = 0
        if left_open and settle == "resume" and status == "verifying" and self.vars:
            expected_code = 1  # the post-checks run again, fail again, and the run is undone
        assert result.code == expected_code, result.text
        if self.cell.fault != "takeover":  # else once the woken process has stopped too
            self.settled(run_id, left_open, SETTLED[settle][self.stop.phase], reference)

    def settled(self, run_id: int, left_open: bool, phase: str, reference: dict[str, Any]) -> None:
        """The plan is in `phase`, with exactly the data of a clean run there, and free."""
        doc = json.loads(self.cli(self.dsn, "status", self.plan, "--output", "json").out)
        assert doc["phase"] == phase
        assert doc["open_run"] is None
        assert doc["lock"]["held"] is False
        assert query(self.dsn, "select count(*) from migrator.locks") == [(0,)]
        assert snapshot(self.dsn) == reference[phase]
        self.audit(run_id, left_open, phase)

    def audit(self, run_id: int, left_open: bool, phase: str) -> None:
        """The audit trail says what happened: interrupted, each step done and undone once."""
        states = [
            r[0]
            for r in query(
                self.dsn,
                "select status from migrator.events where run_id = %s and kind = 'state' "
                "order by id",
                run_id,
            )
        ]
        if left_open:
            assert "interrupted" in states, states
        if self.cell.fault == "sigkill":  # and which step was running when it was killed
            (reason,) = query(
                self.dsn,
                "select detail->>'reason' from migrator.events where run_id = %s "
                "and kind = 'state' and status = 'interrupted'",
                run_id,
            )[0]
            running = self.stop.running
            assert reason.endswith(f", while step {running} ran" if running else "finished")
        done = query(
            self.dsn,
            "select step, count(*) from migrator.events where kind = 'step' and status = 'done' "
            "group by run_id, step having count(*) > 1",
        )
        assert done == [], f"a step recorded done twice in one run: {done}"
        undone = query(
            self.dsn,
            "select step, count(*) from migrator.events where kind = 'undo' and status = 'done' "
            "group by run_id, step having count(*) > 1",
        )
        assert undone == [], f"a step undone twice in one run: {undone}"
        if phase == "after":
            assert query(self.dsn, "select rows_done from migrator.checkpoints") == [(ROWS,)]
        for run, status, reverts in query(
            self.dsn, "select id, status, reverts from migrator.runs order by id"
        ):
            self.audit_run(run, status, reverts)

    def audit_run(self, run: int, status: str, reverts: int | None) -> None:
        """A run's events agree with how it ended: every step done once, in order, or
        every step it did (a backfill part way included) undone once."""

        def steps(kind: str, status: str) -> list[str]:
            rows = query(
                self.dsn,
                "select step from migrator.events where run_id = %s and kind = %s "
                "and status = %s order by id",
                run,
                kind,
                status,
            )
            return [r[0] for r in rows]

        done = steps("step", "done")
        if status == "succeeded":
            undos = [f"undo {s}" for s in reversed(STEPS)]
            assert done == (undos if reverts is not None else list(STEPS))
        else:
            assert status == "undone", f"run {run} ended {status}"
            part_way = {"s3"} & set(steps("step", "started")) - set(done)  # the backfill
            assert sorted(steps("undo", "done")) == sorted({*done, *part_way})


@pytest.mark.parametrize("cell", cells())
def test_fault(
    cell: Cell,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cli: Cli,
    admin_dsn: str,
    reference: dict[str, Any],
) -> None:
    server: RestartableServer | None = None
    if cell.fault in ("restart", "outage"):
        server = request.getfixturevalue("restartable_server")
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    with fresh_database(server.admin_dsn if server else admin_dsn, request.config) as dsn:
        FaultedRun(cell, dsn, plan, cli, server).run(reference)
