"""`migrator fleet apply` on real databases (one per target, tests/fleets.py): waves in
order, failures that stop the rollout, retries, a resumed rollout, a SIGKILL, a bake."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fleets import (
    FleetDatabases,
    env_name,
    fleet_databases,  # noqa: F401
)
from tests.helpers import run_cli
from tests.plans import phased
from tests.processes import sigkill, spawn, wait_for
from tests.terminal import in_terminal

PLAN = "tenants"
GATE = 4242
CANARY_THEN_REST = "  - {name: canary, match: {group: canary}}\n  - {name: rest, parallel: 2}\n"
FAST_RETRY = "retry: {attempts: 2, backoff: 0.05s}\n"
POISONED = "select 1 / (1 - (select count(*) from pg_class where relname = 'poison'))::int"


@pytest.fixture
def dbs(request: pytest.FixtureRequest) -> FleetDatabases:
    """The test's fleet of databases (tests/fleets.py)."""
    made: FleetDatabases = request.getfixturevalue("fleet_databases")
    return made


def write_plan(folder: Path, *, gate: bool = False, post_check: str | None = None) -> Path:
    steps = [
        "name: make\nsql: create table made (id int)\nrollback: {sql: drop table made}",
        f'name: poison check\nsql: "{POISONED}"',
    ]
    if gate:  # first: the run has steps to do after it
        steps.insert(0, f"name: gate\nsql: select pg_advisory_xact_lock({GATE})\nlock_timeout: 10m")
    checks = [post_check] if post_check else []
    path = folder / "tenants.yaml"
    path.write_text(phased(PLAN, steps, post_checks=checks, phases=("legacy", "dual")), "utf-8")
    return path


def ledger(fleet: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        fleet.with_name(fleet.name + ".ledger.json").read_text("utf-8")
    )
    return document


def states(fleet: Path) -> dict[str, str]:
    rollout = ledger(fleet)["rollouts"][-1]
    return {name: record["state"] for name, record in rollout["targets"].items()}


def runs(dbs: FleetDatabases, target: str) -> list[tuple[Any, ...]]:
    if dbs.sql(target, "select to_regclass('migrator.runs')") == [(None,)]:
        return []
    return dbs.sql(target, "select id, started_at, finished_at from migrator.runs order by id")


def execute(dbs: FleetDatabases, target: str, statement: str) -> None:
    with psycopg.connect(dbs.dsns[target], autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def step_starts(dbs: FleetDatabases, target: str, step: str) -> int:
    rows = dbs.sql(
        target,
        "select count(*) from migrator.events where kind = 'step' and status = 'started' "
        f"and step = '{step}'",
    )
    return int(str(rows[0][0]))


@contextmanager
def gate_held(dsn: str) -> Iterator[threading.Event]:
    """The gate's advisory lock held on `dsn` until the event is set (or the end)."""
    release = threading.Event()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (GATE,))
        try:
            yield release
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (GATE,))


def apply(capsys: pytest.CaptureFixture[str], fleet: Path, plan: Path, *more: str) -> Any:
    return run_cli(capsys, "fleet", "apply", fleet, plan, "--to", "dual", *more)


def test_the_canary_wave_ends_before_the_rest_starts(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write({"internal": "canary", "acme": None, "beta": None}, CANARY_THEN_REST)
    plan = write_plan(tmp_path)
    code, out, err = apply(capsys, fleet, plan)
    assert code == 0, out + err
    canary_end = runs(dbs, "internal")[-1][2]
    for target in ("acme", "beta"):
        assert dbs.phase(target, PLAN) == "dual"
        assert runs(dbs, target)[0][1] >= canary_end
    assert states(fleet) == {"internal": "moved", "acme": "moved", "beta": "moved"}
    record = ledger(fleet)["rollouts"][-1]
    assert record["status"] == "completed"
    assert record["targets"]["acme"]["from_phase"] == "legacy"
    assert record["targets"]["acme"]["runs"] == [runs(dbs, "acme")[0][0]]
    assert "✓ internal: legacy -> dual (run" in out
    assert out.index("wave canary ended") < out.index("wave rest:")
    assert "3 moved, 0 already in the phase, 0 failed, 0 not started" in out


def test_a_failing_target_stops_the_rollout_and_a_second_apply_finishes_it(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write(
        {"one": None, "two": None, "three": None},
        "  - {name: all, parallel: 1, max_failures: 0}\n",
    )
    execute(dbs, "two", "create table poison ()")
    plan = write_plan(tmp_path)
    code, out, err = apply(capsys, fleet, plan)
    assert code == 1, out + err
    assert states(fleet) == {"one": "moved", "two": "failed", "three": "not_started"}
    assert dbs.phase("two", PLAN) != "dual" and len(runs(dbs, "two")) == 1  # undone
    assert dbs.sql("three", "select to_regnamespace('migrator')") == [(None,)]
    assert "✗ two: exit 1 — " in out
    assert "1 moved, 0 already in the phase, 1 failed, 1 not started" in out
    first = ledger(fleet)["rollouts"][-1]
    assert first["status"] == "stopped"

    execute(dbs, "two", "drop table poison")
    code, out, err = apply(capsys, fleet, plan)
    assert code == 0, out + err
    assert states(fleet) == {"one": "moved", "two": "moved", "three": "moved"}
    document = ledger(fleet)
    assert len(document["rollouts"]) == 1 and document["rollouts"][0]["id"] == first["id"]
    assert len(runs(dbs, "one")) == 1  # moved by the first apply: not run again
    assert [dbs.phase(t, PLAN) for t in ("one", "two", "three")] == ["dual"] * 3

    assert "= one: already in dual (moved by this rollout before)" in out
    assert "✓ two: legacy -> dual" in out

    code, out, err = apply(capsys, fleet, plan)  # nothing left to do
    assert code == 0 and out.count("already in dual (moved by this rollout before)") == 3
    assert states(fleet)["one"] == "moved" and len(runs(dbs, "one")) == 1


def test_max_failures_one_lets_one_failure_pass(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write(
        {"one": None, "two": None, "three": None},
        "  - {name: all, parallel: 1, max_failures: 1}\n",
    )
    execute(dbs, "one", "create table poison ()")
    code, out, err = apply(capsys, fleet, write_plan(tmp_path), "--output", "json")
    assert code == 1
    document = json.loads(out)
    assert document["exit_code"] == 1 and document["result"] == "check_failed"
    assert {t["name"]: t["state"] for t in document["targets"]} == {
        "one": "failed",
        "two": "moved",
        "three": "moved",
    }
    assert "✗ one: exit 1" in err


def test_an_unreachable_target_is_tried_again_then_reported(
    dbs: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = dbs.write(
        {"acme": None, "gone": None}, "  - {name: all, parallel: 2}\n", extra=FAST_RETRY
    )
    nowhere = psycopg.conninfo.make_conninfo(dbs.dsns["gone"], dbname="fleet_no_such_database")
    monkeypatch.setenv(env_name("gone"), nowhere)
    code, out, err = apply(
        capsys, fleet, write_plan(tmp_path), "--output", "json", "--log-format", "json"
    )
    assert code == 5, err
    document = json.loads(out)
    targets = {t["name"]: t for t in document["targets"]}
    assert targets["gone"]["state"] == "unreachable"
    assert targets["gone"]["attempts"] == 3 and targets["gone"]["exit_code"] == 5
    assert "fleet_no_such_database" in targets["gone"]["message"]
    assert targets["acme"]["state"] == "moved" and targets["acme"]["runs"]
    assert document["waves"] == [{"name": "all", "targets": ["acme", "gone"]}]
    assert document["fleet"] == "tenants" and document["to"] == "dual"
    assert "↻ gone: exit 5, trying again in 50 ms (attempt 2 of 3)" in err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert events and {e["target"] for e in events} == {"acme"}
    assert any(e["kind"] == "step" and e["step"] == "make" for e in events)
    assert states(fleet) == {"acme": "moved", "gone": "unreachable"}


def test_a_wave_that_needs_approval_stops_without_a_terminal(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waves = "  - {name: canary, match: {group: canary}}\n  - {name: rest, approval: true}\n"
    fleet = dbs.write({"internal": "canary", "acme": None}, waves)
    plan = write_plan(tmp_path)
    code, out, err = apply(capsys, fleet, plan)
    assert code == 1
    assert "wave rest needs approval: not approved, no terminal to ask on; pass --yes" in out
    assert states(fleet) == {"internal": "moved", "acme": "not_started"}
    assert dbs.phase("acme", PLAN) is None
    code, out, err = apply(capsys, fleet, plan, "--yes")
    assert code == 0, out + err
    assert states(fleet) == {"internal": "moved", "acme": "moved"}


def test_a_bake_whose_post_check_fails_stops_before_the_next_wave(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waves = "  - {name: canary, match: {group: canary}, bake: 5s}\n  - {name: rest}\n"
    fleet = dbs.write({"internal": "canary", "acme": None}, waves)
    # True while the apply's own run is open (its post-checks), false once it ended: the
    # bake's first look fails, with no waiting on the clock.
    check = (
        "name: a run under way\n"
        "query: select count(*) from migrator.runs where status = 'verifying'\nexpect: 1"
    )
    code, out, err = apply(capsys, fleet, write_plan(tmp_path, post_check=check))
    assert code == 1, out + err
    assert "post-check a run under way failed during the bake" in out, out
    assert states(fleet) == {"internal": "moved", "acme": "not_started"}
    assert dbs.phase("internal", PLAN) == "dual"  # nothing undone: the operator decides
    assert dbs.phase("acme", PLAN) is None
    record = ledger(fleet)["rollouts"][-1]
    assert record["status"] == "stopped"
    assert "a run under way" in record["targets"]["internal"]["message"]


def test_a_bake_that_holds_goes_on_to_the_next_wave(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waves = "  - {name: canary, match: {group: canary}, bake: 0.3s}\n  - {name: rest}\n"
    fleet = dbs.write({"internal": "canary", "acme": None}, waves)
    check = "name: the table is there\nquery: select count(*) from made\nexpect: 0"
    code, out, err = apply(capsys, fleet, write_plan(tmp_path, post_check=check))
    assert code == 0, out + err
    assert "wave canary baked" in out
    assert states(fleet) == {"internal": "moved", "acme": "moved"}


def test_the_ledger_survives_a_sigkill_and_apply_again_finishes(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write({"one": None, "two": None}, "  - {name: all, parallel: 2}\n")
    plan = write_plan(tmp_path, gate=True)
    with gate_held(dbs.dsns["two"]):
        proc = spawn("fleet", "apply", fleet, plan, "--to", "dual")
        try:
            wait_for(
                lambda: (
                    fleet.with_name(fleet.name + ".ledger.json").exists()
                    and states(fleet) == {"one": "moved", "two": "running"}
                ),
                proc=proc,
            )
            wait_for(lambda: runs(dbs, "two") != [] and step_starts(dbs, "two", "gate") == 1)
            # A second fleet command while this one holds the ledger: exit 4.
            code, out, err = apply(capsys, fleet, plan)
            assert code == 4 and "another fleet command holds the ledger" in err
        finally:
            sigkill(proc)
        assert states(fleet) == {"one": "moved", "two": "running"}  # valid JSON, as left
    # The orphaned `migrator apply` of `two` goes on past the gate to its end.
    wait_for(lambda: dbs.phase("two", PLAN) == "dual")
    code, out, err = apply(capsys, fleet, plan)
    assert code == 0, out + err
    assert states(fleet) == {"one": "moved", "two": "moved"}
    record = ledger(fleet)["rollouts"][-1]
    assert record["targets"]["two"]["runs"] == [runs(dbs, "two")[-1][0]]
    for target in ("one", "two"):
        assert len(runs(dbs, target)) == 1
        assert step_starts(dbs, target, "make") == 1
    assert step_starts(dbs, "two", "gate") == 1


def _lines_of(proc: subprocess.Popen[str]) -> list[str]:
    """The process's stdout lines as they come (read in a thread of its own)."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    threading.Thread(target=read, daemon=True).start()
    return lines


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_rollout_and_apply_again_finishes_it(
    dbs: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signum: signal.Signals,
    code: int,
) -> None:
    fleet = dbs.write({"one": None, "two": None}, "  - {name: all, parallel: 1}\n")
    plan = write_plan(tmp_path, gate=True)
    with gate_held(dbs.dsns["one"]):
        proc = spawn("fleet", "apply", fleet, plan, "--to", "dual")
        lines = _lines_of(proc)
        try:
            wait_for(lambda: runs(dbs, "one") != [] and step_starts(dbs, "one", "gate") == 1)
            proc.send_signal(signum)
            wait_for(lambda: any("the stop is passed on to the 1 target" in x for x in lines))
        except BaseException:
            sigkill(proc)
            raise
    # The gate is open: `one` ends its step, stops at its safe point, and the fleet ends.
    assert proc.wait(timeout=60) == code, "".join(lines)
    assert states(fleet)["two"] == "not_started"
    # `one`, stopped mid-way, is on record with its run and its command's pid: `fleet
    # rollback` finds what the rollout did there.
    stopped = ledger(fleet)["rollouts"][-1]["targets"]["one"]
    ((run, pid),) = dbs.sql("one", "select id, pid from migrator.runs")
    assert stopped["state"] == "running" and stopped["runs"] == [run]
    assert stopped["pids"] == [pid] and stopped["exit_code"] == 130  # a SIGINT passed on
    assert dbs.sql("two", "select to_regnamespace('migrator')") == [(None,)]
    assert ledger(fleet)["rollouts"][-1]["status"] == "stopped"
    assert dbs.phase("one", PLAN) != "dual"
    again, out, err = apply(capsys, fleet, plan)
    assert again == 0, out + err
    assert states(fleet) == {"one": "moved", "two": "moved"}
    assert step_starts(dbs, "one", "gate") == 1  # the interrupted run resumed, not redone
    assert step_starts(dbs, "one", "make") == 1


def test_the_live_table_fits_a_narrow_terminal(dbs: FleetDatabases, tmp_path: Path) -> None:
    names = {"internal_canary_database_of_the_company": "canary", "acme_corporation_eu_1": None}
    waves = "  - {name: canary, match: {group: canary}, bake: 0.5s}\n  - {name: rest}\n"
    fleet = dbs.write(names, waves)
    plan = write_plan(
        tmp_path, post_check="name: made\nquery: select count(*) from made\nexpect: 0"
    )
    argv: list[str | Path] = [sys.executable, "-m", "migrator", "fleet", "apply", fleet, plan]
    argv += ["--to", "dual"]
    drawn = in_terminal(argv, columns=44, env=dict(os.environ), cwd=tmp_path)
    shown = "\n".join(drawn.screen.lines)
    assert drawn.code == 0, shown
    assert not drawn.too_wide(), shown
    assert "target" in shown and "elapsed" in shown  # the table's heading
    assert "bake of wave canary:" in drawn.output  # the countdown under the table
    assert "wave canary baked" in shown
    assert "internal_canary_database_of_the_company: legacy -> dual" in shown.replace("\n", "")
    assert states(fleet) == {name: "moved" for name in names}


def approval_plan(folder: Path) -> Path:
    path = folder / "gated.yaml"
    text = phased(PLAN, ["name: make\nsql: create table made (id int)"], phases=("legacy", "dual"))
    path.write_text(text.replace("    to: dual\n", "    to: dual\n    approval: true\n"), "utf-8")
    return path


def test_the_plans_approval_without_a_terminal_the_canary_declines(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write({"internal": "canary", "acme": None}, CANARY_THEN_REST)
    plan = approval_plan(tmp_path)
    code, out, err = apply(capsys, fleet, plan)
    assert code == 1, out + err
    assert states(fleet) == {"internal": "failed", "acme": "not_started"}
    code, out, err = apply(capsys, fleet, plan, "--yes")
    assert code == 0, out + err
    approvals = dbs.sql(
        "acme", "select detail->>'via' from migrator.events where kind = 'approval'"
    )
    assert approvals == [("--yes",)]


def test_on_a_terminal_the_plans_approval_is_asked_once_for_the_rollout(
    dbs: FleetDatabases, tmp_path: Path
) -> None:
    from migrator import api
    from migrator.api.context import Context

    fleet = dbs.write({"one": None, "two": None, "three": None})
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return True

    out = io.StringIO()
    ctx = Context(out=out, err=out, interactive=True, confirm=confirm, operator="ann")
    code = api.fleet_apply(ctx, fleet, approval_plan(tmp_path), "dual")
    assert code == 0, out.getvalue()
    assert asked == [
        f"Plan {PLAN} has approval gates (go): approve it for every target of this rollout?"
    ]
    assert states(fleet) == {"one": "moved", "two": "moved", "three": "moved"}
    operators = dbs.sql("three", "select operator from migrator.runs")
    assert operators == [("ann",)]


def test_on_a_terminal_a_wave_is_asked_and_a_no_stops_the_rollout(
    dbs: FleetDatabases, tmp_path: Path
) -> None:
    from migrator import api
    from migrator.api.context import Context

    waves = "  - {name: canary, match: {group: canary}}\n  - {name: rest, approval: true}\n"
    fleet = dbs.write({"internal": "canary", "acme": None, "beta": None}, waves)
    asked: list[str] = []

    def confirm(question: str) -> bool:
        asked.append(question)
        return False

    out = io.StringIO()
    ctx = Context(out=out, err=out, interactive=True, confirm=confirm)
    assert api.fleet_apply(ctx, fleet, write_plan(tmp_path), "dual") == 1
    assert asked == ["Start wave rest (2 targets) of fleet tenants?"]
    assert "wave rest was not approved at the terminal" in out.getvalue()
    assert states(fleet) == {"internal": "moved", "acme": "not_started", "beta": "not_started"}


def test_a_target_in_the_phase_already_is_skipped_and_a_rolled_back_rollout_is_not_continued(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write({"done": None, "todo": None})
    plan = write_plan(tmp_path)
    env = {"MIGRATOR_DSN": dbs.dsns["done"]}
    by_hand = spawn("apply", plan, "--to", "dual", env=env)
    assert by_hand.wait(timeout=60) == 0, by_hand.communicate()
    code, out, err = apply(capsys, fleet, plan, "--output", "json")
    assert code == 0, out + err
    assert states(fleet) == {"done": "in_phase", "todo": "moved"}
    assert "= done: already in dual" in err and len(runs(dbs, "done")) == 1
    first = ledger(fleet)["rollouts"][-1]["id"]

    path = fleet.with_name(fleet.name + ".ledger.json")
    document = ledger(fleet)
    document["rollouts"][-1]["status"] = "rolled_back"
    path.write_text(json.dumps(document), "utf-8")
    code, out, err = apply(capsys, fleet, plan)
    assert code == 0, out + err
    rollouts = ledger(fleet)["rollouts"]
    assert len(rollouts) == 2 and rollouts[0]["id"] == first != rollouts[1]["id"]
    assert states(fleet) == {"done": "in_phase", "todo": "in_phase"}


def test_a_ledger_in_a_database_records_the_rollout(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dbs.add("ledger")
    extra = f'ledger: "${{env:{env_name("ledger")}}}"\n'
    fleet = dbs.write({"one": None, "two": None}, "  - {name: all, parallel: 2}\n", extra=extra)
    code, out, err = apply(capsys, fleet, write_plan(tmp_path), "--output", "json")
    assert code == 0, out + err
    assert json.loads(out)["ledger"].startswith("table migrator.fleet_ledgers at ")
    rows = dbs.sql("ledger", "select document from migrator.fleet_ledgers")
    document: Any = rows[0][0]
    targets = document["rollouts"][-1]["targets"]
    assert {name: record["state"] for name, record in targets.items()} == {
        "one": "moved",
        "two": "moved",
    }
    assert not fleet.with_name(fleet.name + ".ledger.json").exists()


def test_ctrl_c_at_a_waves_question_stops_the_rollout(dbs: FleetDatabases, tmp_path: Path) -> None:
    from migrator import api
    from migrator.api.context import Context

    waves = "  - {name: canary, match: {group: canary}}\n  - {name: rest, approval: true}\n"
    fleet = dbs.write({"internal": "canary", "acme": None}, waves)

    def confirm(question: str) -> bool:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the question waits: it ends
        raise AssertionError("the question went on after Ctrl-C")

    before = signal.getsignal(signal.SIGINT)
    out = io.StringIO()
    ctx = Context(out=out, err=out, interactive=True, confirm=confirm)
    assert api.fleet_apply(ctx, fleet, write_plan(tmp_path), "dual") == 130, out.getvalue()
    assert signal.getsignal(signal.SIGINT) is before  # the fleet's handler is gone
    assert states(fleet) == {"internal": "moved", "acme": "not_started"}
    assert ledger(fleet)["rollouts"][-1]["status"] == "stopped"


def test_a_moved_target_unreachable_on_resume_stays_moved_in_the_ledger(
    dbs: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = dbs.write({"one": None, "two": None}, extra=FAST_RETRY)
    plan = write_plan(tmp_path)
    assert apply(capsys, fleet, plan)[0] == 0
    nowhere = psycopg.conninfo.make_conninfo(dbs.dsns["one"], dbname="fleet_no_such_database")
    monkeypatch.setenv(env_name("one"), nowhere)
    code, out, err = apply(capsys, fleet, plan)
    assert code == 5, out + err
    record = ledger(fleet)["rollouts"][-1]
    assert record["targets"]["one"]["state"] == "moved"  # `fleet rollback` still takes it back
    assert record["targets"]["one"]["attempts"] == 3
    assert record["status"] == "stopped"
    assert "✗ one: exit 5 (after 3 attempts) — " in out, out


def test_a_target_gone_from_the_fleet_keeps_its_record(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(tmp_path)
    fleet = dbs.write({"one": None, "two": None})
    assert apply(capsys, fleet, plan)[0] == 0
    kept = ledger(fleet)["rollouts"][-1]["targets"]["two"]
    fleet = dbs.write({"one": None, "three": None})
    code, out, err = apply(capsys, fleet, plan)
    assert code == 0, out + err
    record = ledger(fleet)["rollouts"][-1]
    assert record["targets"]["two"] == kept  # untouched: `fleet rollback` still knows it
    assert record["targets"]["three"]["state"] == "moved"
    assert "two" not in out


# -- whose runs are the rollout's ---------------------------------------------------------

PATIENT_RETRY = "retry: {attempts: 40, backoff: 0.05s, longest: 0.2s}\n"


def test_a_target_another_operator_moved_while_the_fleet_retried_is_not_claimed(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alice's `migrator apply` holds the plan's lock on u4: the fleet's command there
    exits 4 (it made no run) and is tried again; by then alice's run has moved u4. That
    run is alice's, not the rollout's: `fleet rollback` must never take it back."""
    fleet = dbs.write({"u4": None}, extra=PATIENT_RETRY)
    plan = write_plan(tmp_path, gate=True)
    with gate_held(dbs.dsns["u4"]):
        alice = spawn(
            "apply", plan, "--to", "dual", "--operator", "alice",
            env={"MIGRATOR_DSN": dbs.dsns["u4"]},
        )  # fmt: skip
        try:
            wait_for(lambda: runs(dbs, "u4") != [] and step_starts(dbs, "u4", "gate") == 1)
            bob = spawn("fleet", "apply", fleet, plan, "--to", "dual", "--operator", "bob")
            lines = _lines_of(bob)
            wait_for(lambda: any("↻ u4: exit 4" in line for line in lines), proc=bob)
            record = ledger(fleet)["rollouts"][-1]["targets"]["u4"]
            assert record["state"] == "pending" and record["runs"] == []  # nothing made
            assert len(record["pids"]) >= 1
        except BaseException:
            sigkill(alice)
            raise
    assert alice.wait(timeout=60) == 0, alice.communicate()
    assert bob.wait(timeout=60) == 0, "".join(lines)
    (alices,) = dbs.sql("u4", "select id from migrator.runs where operator = 'alice'")
    record = ledger(fleet)["rollouts"][-1]["targets"]["u4"]
    assert record["state"] == "in_phase" and record["runs"] == [], record
    assert alices[0] not in record["runs"]
    assert "= u4: already in dual" in "".join(lines)
    assert "moved by this rollout" not in "".join(lines)


def test_a_target_the_orphan_of_a_killed_fleet_moved_is_claimed_by_its_pid(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SIGKILLed fleet's `migrator apply` goes on (an orphan) holding the plan's lock:
    apply again gets exit 4 until its retries run out (unreachable); once the orphan has
    moved the target, a third apply knows that run as the rollout's by its pid."""
    fleet = dbs.write({"one": None}, extra=FAST_RETRY)
    plan = write_plan(tmp_path, gate=True)
    with gate_held(dbs.dsns["one"]):
        proc = spawn("fleet", "apply", fleet, plan, "--to", "dual")
        try:
            wait_for(lambda: runs(dbs, "one") != [] and step_starts(dbs, "one", "gate") == 1)
        finally:
            sigkill(proc)
        (orphan,) = ledger(fleet)["rollouts"][-1]["targets"]["one"]["pids"]
        code, out, err = apply(capsys, fleet, plan)  # the orphan holds the plan's lock
        assert code == 4, out + err
        assert states(fleet) == {"one": "unreachable"}
    wait_for(lambda: dbs.phase("one", PLAN) == "dual")  # the orphan ends its move
    code, out, err = apply(capsys, fleet, plan)
    assert code == 0, out + err
    record = ledger(fleet)["rollouts"][-1]["targets"]["one"]
    (made,) = dbs.sql("one", "select id, pid from migrator.runs")
    assert made[1] == orphan
    assert record["state"] == "moved" and record["runs"] == [made[0]], record
    assert record["message"] == f"in dual (run {made[0]})"  # not the old "locked"
    assert "= one: already in dual (moved by this rollout before)" in out


def test_past_max_failures_a_target_waiting_to_retry_starts_no_new_command(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`locked` exits 4 (another apply holds its plan's lock) and waits to try again;
    `bad` fails: past max_failures 0, `locked` starts no other `migrator apply`."""
    fleet = dbs.write(
        {"locked": None, "bad": None},
        "  - {name: all, parallel: 2, max_failures: 0}\n",
        extra="retry: {attempts: 3, backoff: 30s}\n",
    )
    execute(dbs, "bad", "create table poison ()")
    plan = write_plan(tmp_path, gate=True)
    bad_gate = psycopg.connect(dbs.dsns["bad"], autocommit=True)
    bad_gate.execute("select pg_advisory_lock(%s)", (GATE,))
    with gate_held(dbs.dsns["locked"]):
        by_hand = spawn("apply", plan, "--to", "dual", env={"MIGRATOR_DSN": dbs.dsns["locked"]})
        try:
            wait_for(lambda: runs(dbs, "locked") != [] and step_starts(dbs, "locked", "gate") == 1)
            proc = spawn("fleet", "apply", fleet, plan, "--to", "dual")
            lines = _lines_of(proc)
            wait_for(lambda: any("↻ locked: exit 4" in line for line in lines), proc=proc)
            bad_gate.close()  # bad's gate opens: it fails at its poison check
            assert proc.wait(timeout=60) == 1, "".join(lines)
        except BaseException:
            sigkill(by_hand)
            raise
        finally:
            bad_gate.close()
    record = ledger(fleet)["rollouts"][-1]["targets"]
    assert len(record["locked"]["pids"]) == 1, record  # no new attempt after the halt
    assert record["bad"]["state"] == "failed"
    assert by_hand.wait(timeout=60) == 0


def test_a_rollout_whose_command_made_no_run_claims_none_it_finds_later(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fleet's command on u4 exits 4 (alice's apply holds the plan's lock) and the
    fleet dies in its wait to try again. Alice's run moves u4; apply again finds it in
    the phase by a run none of the rollout's commands made: found there, not moved."""
    fleet = dbs.write({"u4": None}, extra="retry: {attempts: 3, backoff: 1h}\n")
    plan = write_plan(tmp_path, gate=True)
    with gate_held(dbs.dsns["u4"]):
        alice = spawn(
            "apply", plan, "--to", "dual", "--operator", "alice",
            env={"MIGRATOR_DSN": dbs.dsns["u4"]},
        )  # fmt: skip
        try:
            wait_for(lambda: runs(dbs, "u4") != [] and step_starts(dbs, "u4", "gate") == 1)
            bob = spawn("fleet", "apply", fleet, plan, "--to", "dual", "--operator", "bob")
            lines = _lines_of(bob)
            wait_for(lambda: any("↻ u4: exit 4" in line for line in lines), proc=bob)
            sigkill(bob)  # in its hour's wait
        except BaseException:
            sigkill(alice)
            raise
    assert alice.wait(timeout=60) == 0, alice.communicate()
    code, out, err = apply(capsys, fleet, plan, "--operator", "bob")
    assert code == 0, out + err
    record = ledger(fleet)["rollouts"][-1]["targets"]["u4"]
    assert record["state"] == "in_phase" and record["runs"] == [], record
    assert "= u4: already in dual\n" in out


def test_a_dsn_password_equal_to_the_phase_does_not_blind_the_fleet(
    dbs: FleetDatabases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The target's password is `dual` (the test server trusts its socket: the password
    is only registered as a secret): the command's document is read as it came (its
    `phase: dual`), and masked only where it is shown or stored."""
    fleet = dbs.write({"one": None})
    dsn = psycopg.conninfo.make_conninfo(dbs.dsns["one"], password="dual")
    monkeypatch.setenv(env_name("one"), dsn)
    code, out, err = apply(capsys, fleet, write_plan(tmp_path))
    assert code == 0, out + err
    record = ledger(fleet)["rollouts"][-1]["targets"]["one"]
    assert record["state"] == "moved", record
    assert record["runs"] == [runs(dbs, "one")[0][0]]
    assert "dual" not in out  # the secret stays masked where it is shown


def test_the_rollout_records_its_vars_and_refuses_other_ones_once_it_moved_a_target(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = dbs.write({"one": None, "two": None}, "  - {name: all, max_failures: 0}\n")
    execute(dbs, "one", "create table poison ()")
    plan = tmp_path / "tenants.yaml"
    steps = ["name: make\nsql: create table made (id int)\nrollback: {sql: drop table made}"]
    steps.append(f'name: poison check\nsql: "{POISONED}"')
    plan.write_text(phased(PLAN, steps, variables="{tag: a}", phases=("legacy", "dual")))
    code, out, err = apply(capsys, fleet, plan, "--var", "tag=b")
    assert code == 1, out + err  # one failed, two not started: nothing moved
    assert ledger(fleet)["rollouts"][-1]["variables"] == {"tag": "b"}
    execute(dbs, "one", "drop table poison")
    code, out, err = apply(capsys, fleet, plan, "--var", "tag=c")  # nothing moved: taken
    assert code == 0, out + err
    assert ledger(fleet)["rollouts"][-1]["variables"] == {"tag": "c"}
    code, out, err = apply(capsys, fleet, plan)  # targets moved with tag=c: refused
    assert code == 2, out + err
    assert "moved targets with other --var values (tag differ)" in err
    assert "`migrator fleet rollback`" in err
    assert len(ledger(fleet)["rollouts"]) == 1
    assert ledger(fleet)["rollouts"][-1]["variables"] == {"tag": "c"}


def test_a_commands_advice_names_the_target_it_is_for(
    dbs: FleetDatabases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target's undo fails (exit 3): its command's advice (`migrator resume ...`) is
    passed on with the target's name, never as a line to paste against any database."""
    fleet = dbs.write({"one": None})
    execute(dbs, "one", "create table poison ()")
    plan = tmp_path / "tenants.yaml"
    steps = [
        "name: make\nsql: create table made (id int)\nrollback: {sql: select 1 / 0}",
        f'name: poison check\nsql: "{POISONED}"',
    ]
    plan.write_text(phased(PLAN, steps, phases=("legacy", "dual")))
    code, out, err = apply(capsys, fleet, plan)
    assert code == 3, out + err
    message = ledger(fleet)["rollouts"][-1]["targets"]["one"]["message"]
    assert "`migrator resume" in message, message
    assert message.endswith("(on target one: its DSN in --dsn or MIGRATOR_DSN)")
    (line,) = [x for x in out.splitlines() if x.startswith("✗ one")]
    assert line.endswith("(on target one: its DSN in --dsn or MIGRATOR_DSN)")


def done_steps(dbs: FleetDatabases, target: str, step: str) -> int:
    rows = dbs.sql(
        target,
        "select count(*) from migrator.events where kind = 'step' and status = 'done' "
        f"and step = '{step}'",
    )
    return int(str(rows[0][0]))


def test_a_target_whose_connections_are_cut_mid_step_still_moves_once(
    dbs: FleetDatabases, tmp_path: Path
) -> None:
    """Every session of a target's `migrator apply` terminated while its step waits on a
    gate: the run carries on (or `fleet apply` tries it again: its `migrator apply`
    resumes the run) and the target moves, each step done once."""
    fleet = dbs.write({"one": None}, "  - {name: all}\n", extra=FAST_RETRY)
    plan = write_plan(tmp_path, gate=True)
    with gate_held(dbs.dsns["one"]):
        proc = spawn("fleet", "apply", fleet, plan, "--to", "dual")
        try:
            wait_for(lambda: runs(dbs, "one") != [] and step_starts(dbs, "one", "gate") >= 1)
            cut = dbs.sql(
                "one",
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where datname = current_database() and application_name like 'migrator %'",
            )
            assert int(str(cut[0][0])) >= 1
        except BaseException:
            sigkill(proc)
            raise
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert dbs.phase("one", PLAN) == "dual"
    assert states(fleet) == {"one": "moved"}
    for step in ("gate", "make", "poison check"):
        assert done_steps(dbs, "one", step) == 1
