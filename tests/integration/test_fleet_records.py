"""`migrator fleet status`, `fleet rollback` and `fleet plan` on real databases (one per
target, on the test server), through the command line in process."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import psycopg
import pytest

from migrator.fleet.ledger import TargetRecord
from tests.fleet_records import (
    FAST_RETRY,
    GATED_UNDO,
    TWO_WAVES,
    add_targets,
    apply_by_hand,
    execute,
    killed_apply,
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

    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 1, out + err  # what is left, and why: never "moved no target"
    assert "acme (wave rest): moved since" in out and "by by-hand" in out
    assert "moved no target" not in out
    assert runs_of(fleet_databases, "acme") == acme_runs


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
    apply_by_hand(fleet_databases, shop, "globex")  # its command's pid never recorded
    acme_runs, globex_runs = runs_of(fleet_databases, "acme"), runs_of(fleet_databases, "globex")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 1, out + err  # never 0 while a target it may have moved is left moved
    assert "already in phase initial" in out
    assert runs_of(fleet_databases, "acme") == acme_runs
    flat = " ".join(out.split())
    assert "globex (wave rest): not taken back (exit 1)" in flat
    assert "holds no pid or run of the rollout's command on it" in flat
    assert runs_of(fleet_databases, "globex") == globex_runs


def test_rollback_after_a_killed_apply_reads_the_targets_runs_by_pid(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    rollout = record_rollout(fleet_databases, fleet_file, shop, {"acme": "rest", "globex": "rest"})
    killed_apply(fleet_file, rollout, "globex")  # its command went on to its end alone
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop, "--output", "json")
    assert code == 0, out + err
    states = {t["name"]: t["state"] for t in json.loads(out)["targets"]}
    assert states == {"acme": "rolled_back", "globex": "rolled_back"}
    for name in ("acme", "globex"):
        assert fleet_databases.phase(name, "shop") == "initial", name
    assert "nothing to take back" not in err


OWNED = """\
plan: shop
vars: {owner: nobody}
phases: [initial, expanded]
transitions:
  - name: expand
    from: initial
    to: expanded
    steps:
      - {name: notes, sql: "create table notes (owner text)", rollback: {sql: "drop table notes"}}
      - name: note
        sql: "insert into notes values (:owner)"
        rollback: {sql: "select 1 / (case when :owner = 'cli' then 1 else 0 end)"}
"""


@pytest.mark.parametrize(
    ("recorded", "given"), [({"owner": "cli"}, []), ({}, ["--var", "owner=cli"])]
)
def test_rollback_undoes_with_the_values_the_apply_was_given(
    fleet_databases: FleetDatabases,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    recorded: dict[str, str],
    given: list[str],
) -> None:
    plan = write_shop(tmp_path, OWNED)
    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, plan, {"acme": "rest"}, variables=recorded)
    if not recorded:  # an apply whose --vars the ledger does not hold: moved with cli's
        execute(fleet_databases, "acme", "update notes set owner = 'cli'")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, plan, *given)
    assert code == 0, out + err
    assert fleet_databases.phase("acme", "shop") == "initial"
    assert fleet_databases.sql("acme", "select to_regclass('notes')") == [(None,)]


THREE = """\
plan: shop
phases: [initial, expanded, done]
transitions:
  - name: expand
    from: initial
    to: expanded
    steps:
      - {name: add extra, sql: "create table extra (id int)", rollback: {sql: "drop table extra"}}
  - name: finish
    from: expanded
    to: done
    steps:
      - {name: add more, sql: "create table more (id int)", rollback: {sql: "drop table more"}}
"""
WAY_BACK = """\
  - name: shrink
    from: expanded
    to: initial
    steps: [{name: drop extra, sql: "drop table extra"}]
"""


@pytest.mark.parametrize("way_back", [True, False])
def test_a_target_moved_through_two_transitions_is_taken_back_to_where_it_was(
    fleet_databases: FleetDatabases,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    way_back: bool,
) -> None:
    plan = write_shop(tmp_path, THREE + (WAY_BACK if way_back else ""))
    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, plan, {"acme": "rest"}, to="done")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, plan, "--output", "json")
    ledger = ledger_of(fleet_file).load().latest("shop")
    assert ledger is not None
    acme = ledger.targets["acme"]
    if way_back:
        assert code == 0, out + err
        assert fleet_databases.phase("acme", "shop") == "initial"
        assert acme.state == "rolled_back" and acme.phase == "initial"
        assert ledger.status == "rolled_back"
        assert len(acme.pids) == 3  # the apply's, then `migrator rollback`'s and apply's
    else:
        assert code == 2, out + err
        assert fleet_databases.phase("acme", "shop") == "expanded"
        assert acme.state == "rollback_failed"
        assert "no way back from phase expanded to initial" in acme.message
        assert ledger.status == "rolling_back"
        code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, plan)
        assert code == 2, out + err  # a second one says so again, never "nothing to do"
        assert "no way back" in " ".join(out.split())


GATED_FINISH = THREE + (  # transition finish waits for advisory lock 42, then one more step
    "      - {name: gate, sql: select pg_advisory_xact_lock(42)}\n"
    '      - {name: last, sql: "create table last (id int)", rollback: {sql: "drop table last"}}\n'
)


def test_rollback_after_an_apply_stopped_halfway_takes_the_target_back_whole(
    fleet_databases: FleetDatabases,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A `fleet apply --to done` stopped by a signal in its second transition (the first
    done, the second interrupted): `fleet rollback` undoes the interrupted run and takes
    the first back, and the target is where the rollout found it."""
    plan = write_shop(tmp_path, GATED_FINISH)
    fleet_file = fleet_databases.write({"acme": None}, waves="  - {name: rest}\n")
    seen: list[str] = []
    with psycopg.connect(fleet_databases.dsns["acme"], autocommit=True) as gate:
        gate.execute("select pg_advisory_lock(42)")
        proc = spawn("fleet", "apply", fleet_file, plan, "--to", "done", "--output", "json")
        try:
            wait_for(lambda: _waits_for_42(fleet_databases, "acme"), proc=proc)
            os.kill(proc.pid, signal.SIGINT)
            wait_for_line(proc.stderr, "stopping", seen)
        finally:
            gate.execute("select pg_advisory_unlock(42)")
        code, out, err = finish(proc, seen)
    assert code == 130, out + err
    assert fleet_databases.phase("acme", "shop") == "expanded"  # one transition of two
    assert [r[2] for r in runs_of(fleet_databases, "acme")] == ["succeeded", "interrupted"]

    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, plan, "--output", "json")
    assert code == 0, out + err
    assert fleet_databases.phase("acme", "shop") == "initial"
    for table in ("extra", "more", "last"):
        assert fleet_databases.sql("acme", f"select to_regclass('{table}')") == [(None,)]
    assert [t["state"] for t in json.loads(out)["targets"]] == ["rolled_back"]
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, plan)
    assert code == 0 and "rolled back already" in out, out + err


def test_a_target_whose_apply_failed_halfway_is_taken_back_what_the_rollout_moved(
    fleet_databases: FleetDatabases,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`fleet apply --to done` failed on acme in its second transition (undone by its own
    apply): acme is left in expanded, `failed` in the ledger, yet the rollout moved it."""
    from migrator.fleet.child import Child
    from migrator.fleet.ledger import Book
    from migrator.masking import Secrets

    plan = write_shop(tmp_path, THREE + "      - {name: boom, sql: select 1/0}\n")
    fleet_file = _fleet(fleet_databases)
    rollout = record_rollout(fleet_databases, fleet_file, plan, {}, {"acme": ("rest", "failed")})
    pids: list[int] = []
    result = Child(
        ["apply", str(plan), "--to", "done"],
        fleet_databases.dsns["acme"],
        Secrets(),
        on_start=pids.append,
    ).run()
    assert result.exit_code == 1 and fleet_databases.phase("acme", "shop") == "expanded"
    ledger = ledger_of(fleet_file)
    document = ledger.load()
    book = Book(ledger, document, next(r for r in document.rollouts if r.id == rollout.id))
    book.update("acme", from_phase="initial", phase="expanded", pids=pids, runs=result.run_ids)
    umbrella_runs = runs_of(fleet_databases, "umbrella")
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, plan)
    assert code == 0, out + err
    assert fleet_databases.phase("acme", "shop") == "initial"
    assert runs_of(fleet_databases, "umbrella") == umbrella_runs


def test_terminal_controls_from_a_target_or_the_ledger_are_shown_not_obeyed(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, shop, {"acme": "rest", "globex": "rest"})
    apply_by_hand(fleet_databases, shop, "acme", "rollback", str(shop))
    apply_by_hand(fleet_databases, shop, "acme", operator="mallory\x1b[2J")
    ledger = ledger_of(fleet_file)
    document = ledger.load()
    document.rollouts[-1].targets["x\x1b]0;TITLE\x07"] = TargetRecord(
        wave="rest", state="moved", from_phase="initial"
    )
    ledger.save(document)
    code, out, err = run_cli(capsys, "fleet", "rollback", fleet_file, shop)
    assert code == 1, out + err  # acme moved since (and a target gone from the fleet file: 2)
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "by mallory\\x1b[2J" in out
    assert "x\\x1b]0;TITLE\\x07: no longer in the fleet file" in out


def test_rollback_lines_are_wrapped_to_the_terminal(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
) -> None:
    import subprocess
    import sys

    fleet_file = _fleet(fleet_databases)
    record_rollout(fleet_databases, fleet_file, shop, {"acme": "rest"})
    leader, follower = os.openpty()
    env = {**os.environ, "COLUMNS": "44", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "migrator", "fleet", "rollback", str(fleet_file), str(shop)],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's far end closed: the process ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    shown = b"".join(chunks).decode()
    lines = [line for line in shown.splitlines() if line.strip()]
    assert len(lines) > 3 and "rolled back" in " ".join(shown.split())
    assert all(len(line) <= 44 or " " not in line.strip() for line in lines), shown


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
        ("rollback", ["last wave first", "moved_since", "130 / 143", "--to FROM", "--var"]),
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
