"""`migrator fleet status`, `fleet rollback` and `fleet plan` on real databases (one per
target, on the test server), through the command line in process."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import psycopg
import pytest

from tests.fleet_records import (
    FAST_RETRY,
    GATED_UNDO,
    TWO_WAVES,
    add_targets,
    apply_by_hand,
    execute,
    ledger_of,
    record_rollout,
    runs_of,
    silent_server,
    with_orders,
    write_shop,
)
from tests.fleets import FleetDatabases, env_name, fleet_databases  # noqa: F401
from tests.helpers import run_cli
from tests.processes import spawn, wait_for
from tests.signals import SIGNALS, finish, wait_for_line

TARGETS = {"internal": "canary", "acme": None, "globex": None, "umbrella": None}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return write_shop(tmp_path)


def _fleet(fleet_databases: FleetDatabases, extra: str = "") -> Path:  # noqa: F811
    return fleet_databases.write(TARGETS, waves=TWO_WAVES, extra=FAST_RETRY + extra)


# -- fleet status -------------------------------------------------------------------------


def test_status_reads_every_target_and_marks_the_unreachable_ones(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = _fleet(fleet_databases, extra="timeout: 1s\n")
    apply_by_hand(fleet_databases, shop, "acme")
    head, _, query = fleet_databases.dsns["acme"].partition("?")
    ghost = head.rsplit("/", 1)[0] + "/no_such_database" + (f"?{query}" if query else "")
    with silent_server() as port:
        monkeypatch.setenv(env_name("ghost"), ghost)
        monkeypatch.setenv(env_name("mute"), f"postgresql://u:hush@127.0.0.1:{port}/x")
        add_targets(
            fleet_file,
            [
                f'  - {{name: ghost, dsn: "${{env:{env_name("ghost")}}}"}}',
                f'  - {{name: mute, dsn: "${{env:{env_name("mute")}}}"}}',
            ],
        )
        code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop, "--output", "json")
    assert code == 5, err
    document = json.loads(out)
    targets = {t["name"]: t for t in document["targets"]}
    assert document["targets"][0]["name"] == "internal"  # wave order
    assert targets["acme"]["phase"] == "expanded"
    assert targets["acme"]["last_run"]["transition"] == "expand"
    assert targets["acme"]["last_run"]["status"] == "succeeded"
    assert targets["internal"]["phase"] == "initial" and targets["internal"]["reachable"]
    assert targets["internal"]["last_run"] is None
    assert not targets["ghost"]["reachable"]
    assert 'database "no_such_database" does not exist' in targets["ghost"]["error"]
    assert not targets["mute"]["reachable"] and targets["mute"]["error"]
    assert targets["mute"]["phase"] is None
    assert document["rollout"] is None
    assert "hush" not in out + err
    for dsn in fleet_databases.dsns.values():
        assert dsn not in out + err
    assert fleet_databases.phase("internal", "shop") is None  # read only: no schema made


def test_status_joins_the_ledger_and_names_the_open_runs(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = _fleet(fleet_databases)
    rollout = record_rollout(
        fleet_databases,
        fleet_file,
        shop,
        {"internal": "canary", "acme": "rest"},
        {"globex": ("rest", "failed"), "umbrella": ("rest", "not_started")},
    )
    apply_by_hand(fleet_databases, shop, "globex")
    execute(
        fleet_databases,
        "globex",
        "update migrator.runs set status = 'interrupted', finished_at = null",
    )
    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop, "--output", "json")
    assert code == 0, err
    document = json.loads(out)
    assert document["rollout"]["id"] == rollout.id
    targets = {t["name"]: t for t in document["targets"]}
    assert targets["acme"]["ledger_state"] == "moved"
    assert targets["acme"]["ledger_runs"] == rollout.targets["acme"].runs
    assert targets["umbrella"]["ledger_state"] == "not_started"
    assert targets["globex"]["open_run"]["status"] == "interrupted"

    code, out, _ = run_cli(capsys, "fleet", "status", fleet_file, shop)
    assert code == 0
    out = " ".join(out.split())  # the summary's lines are wrapped to the terminal
    assert "3 in phase expanded" in out and "1 in phase initial" in out
    assert f"`migrator resume {shop}` on target globex" in out
    assert rollout.id in out
    assert "+00:00" in out  # when, with its zone

    monkeypatch.setenv("COLUMNS", "50")  # a narrow terminal: fewer columns, the table fits
    code, narrow, _ = run_cli(capsys, "fleet", "status", fleet_file, shop)
    assert code == 0
    table = narrow.split("3 in phase")[0]  # (a path in the summary is never cut)
    assert all(len(line) <= 50 for line in table.splitlines()), narrow
    header = next(line for line in narrow.splitlines() if line.startswith("target"))
    # the run's id and transition left out before a word is broken; its status stays
    assert header.split() == ["target", "phase", "status", "ledger"]
    assert "interrupted" in narrow.split()


def test_status_never_holds_the_ledger(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, shop, {"acme": "rest"})
    with ledger_of(fleet_file).held():  # a fleet apply under way
        code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop, "--output", "json")
    assert code == 0, err
    assert {t["name"]: t["ledger_state"] for t in json.loads(out)["targets"]}["acme"] == "moved"


# -- fleet rollback -----------------------------------------------------------------------


def test_rollback_takes_back_exactly_the_moved_targets_last_wave_first(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    record_rollout(
        fleet_databases,
        fleet_file,
        shop,
        {"internal": "canary", "acme": "rest", "globex": "rest"},
        {"umbrella": ("rest", "in_phase")},
    )
    apply_by_hand(fleet_databases, shop, "umbrella")  # moved, but not by this rollout
    umbrella_runs = runs_of(fleet_databases, "umbrella")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 0, out + err
    for name in ("internal", "acme", "globex"):
        assert fleet_databases.phase(name, "shop") == "initial", name
        assert fleet_databases.sql(name, "select to_regclass('extra')") == [(None,)]
    assert fleet_databases.phase("umbrella", "shop") == "expanded"
    assert runs_of(fleet_databases, "umbrella") == umbrella_runs
    # the last wave first: the canary's rollback started after the rest's ended
    rest = [runs_of(fleet_databases, n)[-1] for n in ("acme", "globex")]
    canary = runs_of(fleet_databases, "internal")[-1]
    assert all(r[3] is not None for r in [*rest, canary])  # rollback runs
    assert canary[4] > max(r[4] for r in rest)
    assert out.index("internal (wave canary)") > max(
        out.index("acme (wave rest)"), out.index("globex (wave rest)")
    )
    ledger = ledger_of(fleet_file).load().latest("shop")
    assert ledger is not None and ledger.status == "rolled_back"
    assert ledger.targets["acme"].state == "rolled_back"
    assert len(ledger.targets["acme"].runs) == 2
    assert ledger.targets["umbrella"].state == "in_phase"

    before = {n: runs_of(fleet_databases, n) for n in TARGETS}
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop, "--output", "json")
    assert code == 0, err
    assert json.loads(out)["result"] == "nothing"
    assert "rolled back already" in err
    assert {n: runs_of(fleet_databases, n) for n in TARGETS} == before


def test_rollback_leaves_a_target_moved_since_untouched(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, shop, {"acme": "rest", "globex": "rest"})
    apply_by_hand(fleet_databases, shop, "acme", "rollback", str(shop))
    apply_by_hand(fleet_databases, shop, "acme")  # someone moved it again, by hand
    acme_runs = runs_of(fleet_databases, "acme")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop, "--output", "json")
    assert code == 1, out + err
    document = json.loads(out)
    states = {t["name"]: t["state"] for t in document["targets"]}
    assert states == {"acme": "moved_since", "globex": "rolled_back"}
    assert runs_of(fleet_databases, "acme") == acme_runs
    assert fleet_databases.phase("globex", "shop") == "initial"
    ledger = ledger_of(fleet_file).load().latest("shop")
    assert ledger is not None and ledger.status == "rolling_back"
    assert "not touched" in ledger.targets["acme"].message


def test_rollback_of_a_target_already_back_does_nothing(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    record_rollout(
        fleet_databases, fleet_file, shop, {"acme": "rest"}, {"globex": ("rest", "running")}
    )
    apply_by_hand(fleet_databases, shop, "acme", "rollback", str(shop))
    apply_by_hand(fleet_databases, shop, "globex")  # a fleet apply killed while it ran
    acme_runs, globex_runs = runs_of(fleet_databases, "acme"), runs_of(fleet_databases, "globex")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 0, out + err
    assert "already in phase initial" in out
    assert runs_of(fleet_databases, "acme") == acme_runs
    assert "globex: the rollout's command on it never reported its end" in out
    assert runs_of(fleet_databases, "globex") == globex_runs


@pytest.mark.parametrize("max_failures", [0, 1])
def test_a_failed_undo_exits_3_and_max_failures_decides_the_rest(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    max_failures: int,
) -> None:
    waves = (
        "  - {name: canary, match: {group: canary}}\n"
        f"  - {{name: rest, parallel: 1, max_failures: {max_failures}}}\n"
    )
    fleet_file = fleet_databases.write(
        {"internal": "canary", "globex": None, "acme": None}, waves=waves, extra=FAST_RETRY
    )
    record_rollout(
        fleet_databases, fleet_file, shop, {"internal": "canary", "globex": "rest", "acme": "rest"}
    )
    execute(fleet_databases, "globex", "drop table extra")  # its undo will fail
    code, out, err = run_cli(
        capsys, "fleet", "rollback", fleet_file, shop, "--output", "json", "--log-format", "json"
    )
    assert code == 3, out + err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["kind"] == "step" and e["status"] == "failed"]
    assert [e["target"] for e in failed] == ["globex"]  # each child's events, with its target
    states = {t["name"]: t["state"] for t in json.loads(out)["targets"]}
    assert states["globex"] == "rollback_failed"
    ledger = ledger_of(fleet_file).load().latest("shop")
    assert ledger is not None and ledger.targets["globex"].state == "rollback_failed"
    if max_failures == 0:  # halted: acme (after globex) and the canary wave never started
        assert fleet_databases.phase("acme", "shop") == "expanded"
        assert fleet_databases.phase("internal", "shop") == "expanded"
        assert ledger.targets["internal"].state == "moved"
        assert states["internal"] == "moved" and "internal (wave canary): not started" in err
    else:
        assert fleet_databases.phase("acme", "shop") == "initial"
        assert fleet_databases.phase("internal", "shop") == "initial"
    assert "on target globex settles it" in err


def test_rollback_with_no_rollout_says_so(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    code, out, _ = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 0
    assert "has no rollout of plan shop" in out


def test_rollback_waits_for_no_one_holding_the_ledger(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, shop, {"acme": "rest"})
    with ledger_of(fleet_file).held():
        code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 4, out + err
    assert "holds the ledger" in err
    assert fleet_databases.phase("acme", "shop") == "expanded"


# -- fleet plan ---------------------------------------------------------------------------


def test_fleet_plan_shows_each_target_and_writes_nothing(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    with_orders(fleet_databases, "internal", "acme")
    apply_by_hand(fleet_databases, shop, "acme")
    code, out, err = run_cli(
        capsys, "fleet", "plan", fleet_file, shop, "--to", "expanded", "--output", "json"
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["to"] == "expanded"
    targets = {t["name"]: t for t in document["targets"]}
    assert targets["acme"]["phase"] == "expanded" and targets["acme"]["document"]["path"] == []
    internal = targets["internal"]["document"]["path"][0]
    assert internal["name"] == "expand" and internal["pre_checks"][0]["today"]["passed"]
    globex = targets["globex"]["document"]["path"][0]["pre_checks"][0]["today"]
    assert globex["passed"] is False
    for name in ("internal", "globex", "umbrella"):
        assert fleet_databases.phase(name, "shop") is None, name  # no schema migrator made
    assert not ledger_of(fleet_file).path.exists()

    code, out, err = run_cli(capsys, "fleet", "plan", fleet_file, shop, "--to", "expanded")
    assert code == 0, err
    assert "acme: already in phase expanded" in out
    assert "internal: initial -> expanded by expand" in out
    assert "globex: initial -> expanded by expand" in out
    assert "pre-check FAILS today: expand: orders exist" in out
    assert out.index("wave canary") < out.index("wave rest")


def test_fleet_plan_of_a_phased_plan_needs_to(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    code, _, err = run_cli(capsys, "fleet", "plan", fleet_file, shop)
    assert code == 2
    assert "--to PHASE is required" in err


@pytest.mark.parametrize(("signum", "exit_code"), SIGNALS)
def test_a_signal_stops_the_rollback_and_rollback_again_finishes_it(
    fleet_databases: FleetDatabases,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    signum: int,
    exit_code: int,
) -> None:
    gated = write_shop(tmp_path, GATED_UNDO)
    waves = "  - {name: rest, parallel: 1}\n"
    fleet_file = fleet_databases.write({"acme": None, "globex": None}, waves=waves)
    record_rollout(fleet_databases, fleet_file, gated, {"acme": "rest", "globex": "rest"})
    globex_runs = runs_of(fleet_databases, "globex")
    seen: list[str] = []
    with psycopg.connect(fleet_databases.dsns["acme"], autocommit=True) as gate:
        gate.execute("select pg_advisory_lock(42)")
        proc = spawn("fleet", "rollback", fleet_file, gated, "--output", "json")
        try:
            wait_for(lambda: _waits_for_42(fleet_databases, "acme"), proc=proc)
            os.kill(proc.pid, signum)
            wait_for_line(proc.stderr, "stop at their next safe point", seen)
        finally:
            gate.execute("select pg_advisory_unlock(42)")
        code, out, err = finish(proc, seen)
    assert code == exit_code, out + err
    assert json.loads(out)["result"] == "stopped"
    acme_runs = runs_of(fleet_databases, "acme")
    assert [r[2] for r in acme_runs] == ["succeeded", "interrupted"]  # stopped at a safe point
    assert runs_of(fleet_databases, "globex") == globex_runs  # never started
    ledger = ledger_of(fleet_file).load().latest("shop")
    assert ledger is not None and ledger.targets["globex"].state == "moved"
    assert ledger.targets["acme"].runs == [r[0] for r in acme_runs]

    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, gated)
    assert code == 0, out + err
    finished = runs_of(fleet_databases, "acme")
    assert [(r[2], r[3]) for r in finished] == [("succeeded", None), ("succeeded", finished[0][0])]
    for name in ("acme", "globex"):
        assert fleet_databases.phase(name, "shop") == "initial"


def _waits_for_42(fleet: FleetDatabases, target: str) -> bool:
    rows = fleet.sql(
        target,
        "select count(*) from pg_locks where locktype = 'advisory' and objid = 42 "
        "and not granted and database = (select oid from pg_database "
        "where datname = current_database())",
    )
    return rows[0][0] == 1


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("status", ["5 one or more could not be read", "never held"]),
        ("rollback", ["last wave first", "moved_since", "130 / 143", "one transition"]),
        ("plan", ["writes nothing", "pre-checks that would fail today"]),
    ],
)
def test_help_of_each_command_explains_it(
    command: str, says: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "fleet", command, "--help")
    assert code == 0
    flat = " ".join(out.split())
    for text in says:
        assert text in flat, (text, out)


def test_a_read_that_never_ends_is_marked_and_holds_no_one() -> None:
    from migrator.fleet.reading import TargetReading
    from migrator.fleet.status import read_all
    from migrator.fleet.targets import FleetTarget

    never = threading.Event()
    targets = [FleetTarget(n, "postgresql:///x", None, {}, "all") for n in ("stuck", "quick")]

    def read(target: FleetTarget) -> TargetReading:
        if target.name == "stuck":
            never.wait()  # a read stuck beyond its own timeouts
        return TargetReading(target, phase="initial")

    try:
        readings = read_all(targets, read, readers=2, wait=0.2)
    finally:
        never.set()
    assert [r.target.name for r in readings] == ["stuck", "quick"]
    assert readings[0].error == "did not answer within 0.2s"
    assert readings[1].reachable and readings[1].phase == "initial"


def test_targets_are_read_at_the_same_time() -> None:
    from migrator.fleet.reading import TargetReading
    from migrator.fleet.status import read_all
    from migrator.fleet.targets import FleetTarget

    targets = [FleetTarget(n, "postgresql:///x", None, {}, "all") for n in ("a", "b", "c")]
    together = threading.Barrier(3, timeout=20)  # passed only when all three read at once

    def read(target: FleetTarget) -> TargetReading:
        together.wait()
        return TargetReading(target, phase="initial")

    readings = read_all(targets, read, readers=3, wait=30)
    assert [r.phase for r in readings] == ["initial"] * 3
