"""The fleet's foundation against a real PostgreSQL: targets read from a control database
(read only), the ledger as a file and as a table (written whole, held by one process at a
time, let go when its holder dies), a target's state read within a time limit, and one
target's `migrator apply` run as a process of its own (its DSN in its environment only)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migrator.api.context import Context
from migrator.errors import DatabaseUnreachable, ExitCode, UsageError
from migrator.fleet.child import ChildResult
from migrator.fleet.ledger import (
    FileLedger,
    LedgerBusy,
    LedgerDocument,
    LedgerUnreadable,
    RolloutRecord,
    TableLedger,
    TargetRecord,
)
from migrator.fleet.model import load_fleet
from migrator.fleet.reading import read_target
from migrator.fleet.session import open_fleet
from migrator.fleet.targets import FleetTarget, resolve_targets
from migrator.masking import Secrets
from tests import plans
from tests.faults.gates import Gate
from tests.fleets import FleetDatabases, env_name, fleet_databases  # noqa: F401
from tests.processes import sigkill, wait_for
from tests.signals import FIRST_SIGNAL_HANDLED

WAIT = 60.0  # a bound on a wait that ends at once when the code is right


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- targets from a query on a control database -------------------------------------------


@pytest.fixture
def control(database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A control database listing tenants; its DSN in CONTROL_DSN (never in a file)."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "create table tenants (name text, dsn text, grp text, vars jsonb, notes text, ord int)"
        )
        conn.execute(
            "insert into tenants values "
            "('internal', '${env:FLEET_Q_INTERNAL}', 'canary', null, '{\"a\": 1}', 1), "
            "('acme', 'postgresql://app:acme-row-secret@db.invalid/acme', null, "
            '\'{"region": "eu", "shards": 4}\', \'{"region": "us"}\', 2), '
            "('globex', 'postgresql://app@db.invalid/globex', 'big', null, null, 3)"
        )
    monkeypatch.setenv("CONTROL_DSN", database)
    monkeypatch.setenv("FLEET_Q_INTERNAL", "postgresql://app:internal-env-secret@db.invalid/i")
    return database


def query_fleet(tmp_path: Path, query: str) -> Path:
    path = tmp_path / "fleet.yaml"
    text = f"""\
        fleet: tenants
        targets:
          query: "{query}"
          dsn: "${{env:CONTROL_DSN}}"
        waves:
          - {{name: canary, match: {{group: canary}}}}
          - {{name: rest, parallel: 4}}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_targets_are_read_from_a_query_on_a_control_database(control: str, tmp_path: Path) -> None:
    fleet = load_fleet(
        query_fleet(tmp_path, "select name, dsn, grp as group, vars from tenants order by ord")
    )
    secrets = Secrets()
    targets = resolve_targets(fleet, secrets)
    assert [(t.name, t.group, t.vars, t.wave) for t in targets] == [
        ("internal", "canary", {}, "canary"),
        ("acme", None, {"region": "eu", "shards": "4"}, "rest"),  # jsonb, numbers as text
        ("globex", "big", {}, "rest"),
    ]
    # A row's `${env:...}` is not read: the control database does not choose which of the
    # operator's environment variables to send where.
    assert targets[0].dsn == "${env:FLEET_Q_INTERNAL}"
    shown = secrets.mask(" ".join(t.dsn for t in targets) + " " + control)
    assert "acme-row-secret" not in shown
    assert control not in shown  # the control database's own DSN is masked too


def test_vars_may_come_as_json_text(control: str, tmp_path: Path) -> None:
    fleet = load_fleet(
        query_fleet(
            tmp_path,
            "select name, dsn, notes as vars from tenants where notes is not null order by ord",
        )
    )
    targets = resolve_targets(fleet, Secrets())
    assert [(t.name, t.vars) for t in targets] == [
        ("internal", {"a": "1"}),
        ("acme", {"region": "us"}),
    ]


def test_a_bad_row_is_named_by_its_number(control: str, tmp_path: Path) -> None:
    with psycopg.connect(control, autocommit=True) as conn:
        conn.execute("update tenants set name = 'globex corp' where ord = 3")
    fleet = load_fleet(query_fleet(tmp_path, "select name, dsn from tenants order by ord"))
    with pytest.raises(UsageError) as raised:
        resolve_targets(fleet, Secrets())
    message = str(raised.value)
    assert raised.value.exit_code == ExitCode.INVALID
    assert message.startswith(f"row 3 of the targets query of {fleet.file}: name: a name is")


def test_a_query_without_name_and_dsn_says_what_it_returned(control: str, tmp_path: Path) -> None:
    fleet = load_fleet(query_fleet(tmp_path, "select name, grp from tenants"))
    with pytest.raises(UsageError) as raised:
        resolve_targets(fleet, Secrets())
    assert "returns name and dsn (and group, vars); it returned name, grp" in str(raised.value)


def test_a_failing_query_is_named_at_its_place(control: str, tmp_path: Path) -> None:
    fleet = load_fleet(query_fleet(tmp_path, "selec name, dsn from tenants"))
    with pytest.raises(UsageError) as raised:
        resolve_targets(fleet, Secrets())
    assert raised.value.exit_code == ExitCode.INVALID
    assert str(raised.value).startswith(
        f'{fleet.file}:3:10: the targets query failed: syntax error at or near "selec"'
    )
    assert control not in str(raised.value)


def test_a_query_that_writes_is_refused(control: str, tmp_path: Path) -> None:
    fleet = load_fleet(
        query_fleet(
            tmp_path,
            "insert into tenants (name, dsn) values ('evil', 'x') returning name, dsn",
        )
    )
    with pytest.raises(UsageError) as raised:
        resolve_targets(fleet, Secrets())
    assert "cannot execute INSERT in a read-only transaction" in str(raised.value)
    with psycopg.connect(control) as conn:
        assert conn.execute("select count(*) from tenants where name = 'evil'").fetchone() == (0,)


def test_a_query_canceled_is_a_failed_query_not_an_unreachable_database(
    control: str, tmp_path: Path
) -> None:
    """A query that runs past its time limit (or is canceled) reached the database: it
    failed as a query (exit 2), the control database is not unreachable (exit 5)."""
    fleet = load_fleet(
        query_fleet(
            tmp_path,
            "select name, dsn from tenants where pg_cancel_backend(pg_backend_pid())",
        )
    )
    with pytest.raises(UsageError) as raised:
        resolve_targets(fleet, Secrets())
    assert "the targets query failed: canceling statement due to user request" in str(raised.value)


def test_an_unreachable_control_database_is_exit_5_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = f"postgresql://fleet:control-pw-9f3@127.0.0.1:{free_port()}/control"
    monkeypatch.setenv("CONTROL_DSN", dsn)
    fleet = load_fleet(query_fleet(tmp_path, "select name, dsn from tenants"))
    with pytest.raises(DatabaseUnreachable) as raised:
        resolve_targets(fleet, Secrets())
    assert raised.value.exit_code == ExitCode.UNREACHABLE
    assert "control-pw-9f3" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)  # where it tried, without the password


# -- the ledger as a file ------------------------------------------------------------------


def a_document(fleet: str = "tenants", targets: int = 2) -> LedgerDocument:
    rollout = RolloutRecord(
        id="20261205T170000Z-scoring-b",
        plan="scoring",
        plan_file="scoring.yaml",
        to="b",
        operator="ops",
        waves=["canary", "rest"],
        targets={
            f"t{i}": TargetRecord(wave="rest", state="moved", from_phase="a", phase="b", runs=[i])
            for i in range(targets)
        },
    )
    return LedgerDocument(fleet=fleet, rollouts=[rollout])


def test_a_file_ledger_round_trips(tmp_path: Path) -> None:
    ledger = FileLedger("tenants", tmp_path / "fleet.yaml.ledger.json")
    assert ledger.load() == LedgerDocument(fleet="tenants")  # none yet: an empty one
    document = a_document()
    ledger.save(document)
    assert ledger.load() == document
    assert json.loads(ledger.path.read_text())["rollouts"][0]["targets"]["t1"]["runs"] == [1]
    assert oct(ledger.path.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.yaml.ledger.json"]


FAILING_SAVE = """
import resource, signal, sys
sys.path[:0] = {paths!r}
from pathlib import Path
from migrator.fleet.ledger import FileLedger
from tests.integration.test_fleet_foundation import a_document
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
ledger = FileLedger("tenants", Path({path!r}))
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    ledger.save(a_document(targets=200))
except OSError as exc:
    print("failed:", exc.strerror)
"""


def test_a_save_that_fails_midway_leaves_the_old_ledger_and_no_partial_file(
    tmp_path: Path,
) -> None:
    """A write that fails after some bytes (the file size limit here, a full disk in
    life) leaves the ledger as it was, whole, and no temporary file behind."""
    ledger = FileLedger("tenants", tmp_path / "fleet.yaml.ledger.json")
    ledger.save(a_document(targets=1))
    before = ledger.path.read_text()
    script = FAILING_SAVE.format(paths=sys.path, path=str(ledger.path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "failed: File too large", done.stdout + done.stderr
    assert ledger.path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.yaml.ledger.json"]


HOLDER = """
import sys
sys.path[:0] = {paths!r}
from pathlib import Path
from migrator.fleet.ledger import FileLedger
with FileLedger("tenants", Path({path!r})).held():
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], FileLedger]]:
    """Another process holding a file ledger (until its stdin closes, or it is killed)."""
    ledger = FileLedger("tenants", tmp_path / "fleet.yaml.ledger.json")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(paths=sys.path, path=str(ledger.path))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    try:
        yield proc, ledger
    finally:
        sigkill(proc)


def test_a_file_ledger_is_held_by_one_process(
    holder: tuple[subprocess.Popen[str], FileLedger],
) -> None:
    proc, ledger = holder
    with pytest.raises(LedgerBusy) as raised, ledger.held():
        pass
    assert raised.value.exit_code == ExitCode.LOCKED
    assert "another fleet command holds the ledger of fleet tenants" in str(raised.value)
    assert proc.stdin is not None
    proc.stdin.close()  # the holder ends its command
    assert proc.wait(WAIT) == 0
    with ledger.held():  # free again
        pass


def test_a_file_ledger_is_let_go_when_its_holder_is_killed(
    holder: tuple[subprocess.Popen[str], FileLedger],
) -> None:
    proc, ledger = holder
    with pytest.raises(LedgerBusy), ledger.held():
        pass
    assert sigkill(proc) == -signal.SIGKILL
    with ledger.held(), pytest.raises(LedgerBusy), ledger.held():  # held, it refuses more
        pass


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"fleet": "payments", "rollouts": []}', "is fleet payments's, not tenants's"),
        ("[1, 2]", "is not a migrator fleet ledger"),
        ("not json at all", "is not a migrator fleet ledger"),
        ('{"fleet": "tenants", "rollouts": [{"id": 3}]}', "is not a migrator fleet ledger"),
    ],
)
def test_a_ledger_file_that_is_not_this_fleets_is_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "fleet.yaml.ledger.json"
    path.write_text(text)
    with pytest.raises(LedgerUnreadable) as raised:
        FileLedger("tenants", path).load()
    assert raised.value.exit_code == ExitCode.INVALID
    assert str(path) in str(raised.value) and expected in str(raised.value)


# -- the ledger as a table -----------------------------------------------------------------


def test_a_table_ledger_round_trips(database: str) -> None:
    ledger = TableLedger("tenants", database)
    with ledger.held():
        assert ledger.load() == LedgerDocument(fleet="tenants")
        ledger.save(a_document())
        document = a_document(targets=3)
        ledger.save(document)  # the row replaced, not added
    other = TableLedger("tenants", database)
    assert other.load() == document
    with psycopg.connect(database) as conn:
        assert conn.execute("select fleet from migrator.fleet_ledgers").fetchall() == [("tenants",)]
    assert database not in ledger.where and "table migrator.fleet_ledgers at" in ledger.where


def test_a_table_ledger_not_yet_made_reads_as_empty(database: str) -> None:
    """`fleet status` reads the ledger without holding it: on a database where no fleet
    command ran yet there is no table, and no rollout."""
    assert TableLedger("tenants", database).load() == LedgerDocument(fleet="tenants")


def test_a_table_ledger_held_with_nothing_written_makes_nothing(database: str) -> None:
    """A command that holds the ledger and writes nothing (refused, nothing to take back)
    leaves the ledger's database as it found it: the schema comes with the first write."""
    ledger = TableLedger("tenants", database)
    with ledger.held():
        assert ledger.load() == LedgerDocument(fleet="tenants")
    with psycopg.connect(database) as conn:
        assert conn.execute("select to_regnamespace('migrator')").fetchone() == (None,)
    document = a_document()
    with ledger.held():
        ledger.save(document)
    assert TableLedger("tenants", database).load() == document


def test_a_table_ledger_is_held_by_one_session_and_let_go_when_it_dies(
    database: str, admin_dsn: str
) -> None:
    first = TableLedger("tenants", database)
    with first.held():
        with pytest.raises(LedgerBusy) as raised, TableLedger("tenants", database).held():
            pass
        assert raised.value.exit_code == ExitCode.LOCKED
        with TableLedger("payments", database).held():  # another fleet's ledger is free
            pass
        pid = first._conn.info.backend_pid  # the held session's
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (pid,))
        with TableLedger("tenants", database).held():  # the lock went with its session
            pass


# -- a target's state, read --------------------------------------------------------------


def a_target(dsn: str, name: str = "acme") -> FleetTarget:
    return FleetTarget(name, dsn, None, {}, "all")


def test_a_fresh_database_reads_as_the_initial_phase(database: str) -> None:
    reading = read_target(a_target(database), "scoring", "legacy", 5.0, Secrets())
    assert (reading.phase, reading.error, reading.last_run, reading.open_run) == (
        "legacy",
        None,
        None,
        None,
    )
    assert reading.reachable
    with psycopg.connect(database) as conn:  # reading created nothing
        assert conn.execute("select to_regnamespace('migrator')").fetchone() == (None,)


def test_a_target_after_an_apply_reads_its_phase_and_runs(
    database: str, migrator: Any, write_plan: Any
) -> None:
    plan = write_plan(plans.phased("scoring", ["{sql: create table t (id int)}"]))
    assert migrator("apply", plan, "--to", "b").code == 0
    reading = read_target(a_target(database), "scoring", "a", 5.0, Secrets())
    assert reading.error is None and reading.phase == "b"
    assert reading.last_run is not None and reading.last_run.status == "succeeded"
    assert reading.last_succeeded == reading.last_run
    assert reading.open_run is None
    other = read_target(a_target(database), "another", "x", 5.0, Secrets())
    assert (other.phase, other.last_run) == ("x", None)  # another plan: never run here


def test_a_target_whose_state_is_locked_is_given_up_on_at_the_lock_timeout(
    database: str, migrator: Any, write_plan: Any
) -> None:
    """Its `migrator.plan_state` held in ACCESS EXCLUSIVE mode by another session: the
    reading waits for the lock at most its timeout and says so (bounded here by a join)."""
    plan = write_plan(plans.phased("scoring", ["{sql: create table t (id int)}"]))
    assert migrator("apply", plan, "--to", "b").code == 0
    readings: list[Any] = []
    with psycopg.connect(database) as holder:
        holder.execute("lock table migrator.plan_state in access exclusive mode")
        reader = threading.Thread(
            target=lambda: readings.append(
                read_target(a_target(database), "scoring", "a", 1.0, Secrets())
            ),
            daemon=True,
        )
        reader.start()
        reader.join(WAIT)
        assert not reader.is_alive(), "read_target waited on the lock past its timeout"
    (reading,) = readings
    assert not reading.reachable and "timeout" in (reading.error or "")


def test_an_unreachable_target_is_a_reading_with_its_masked_reason() -> None:
    dsn = f"postgresql://app:reading-pw-77@127.0.0.1:{free_port()}/acme"
    secrets = Secrets()
    secrets.add("reading-pw-77")
    reading = read_target(a_target(dsn), "scoring", "a", 2.0, secrets)
    assert not reading.reachable and reading.phase is None
    assert reading.error is not None and "reading-pw-77" not in reading.error
    assert "refused" in reading.error


def test_a_target_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    """A server that takes the connection and says nothing: the reading ends with an
    error within about its timeout (bounded here by a generous join, not a clock)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    readings: list[Any] = []
    target = a_target(f"postgresql://app:silent-pw-5@127.0.0.1:{port}/acme")
    reader = threading.Thread(
        target=lambda: readings.append(read_target(target, "scoring", "a", 1.0, Secrets())),
        daemon=True,
    )
    try:
        reader.start()
        reader.join(WAIT)
        assert not reader.is_alive(), "read_target waited on a silent server"
        (reading,) = readings
        assert reading.error is not None and "silent-pw-5" not in reading.error
        assert accepted  # it did connect: the silence was the server's
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


# -- one target's command, as a process of its own ----------------------------------------

TWO_STEPS = plans.phased(
    "scoring",
    [
        plans.sql_step("one", "create table one (id int)"),
        plans.sql_step("two", "create table two (id int)"),
    ],
)


def held(gate: Gate, thread: threading.Thread) -> None:
    """Wait until the child waits at the gate (fail at once if it ended before)."""
    wait_for(lambda: gate.reached_row() is not None or not thread.is_alive(), timeout=WAIT)
    assert thread.is_alive(), "the child ended before it reached the gate"


@pytest.fixture
def session(fleet_databases: FleetDatabases, write_plan: Any) -> Any:  # noqa: F811
    fleet = fleet_databases.write({"acme": None})
    plan = write_plan(TWO_STEPS, "scoring.yaml")
    return open_fleet(Context(), fleet, plan, "b")


def test_the_command_of_a_target_holds_its_vars_and_never_its_dsn(session: Any) -> None:
    (target,) = session.targets
    target = FleetTarget(target.name, target.dsn, None, {"region": "eu", "cli": "lost"}, "all")
    session.ctx.variables["cli"] = "wins"  # `--var cli=wins` on the fleet's command line
    argv = session.command(target, "apply", "--to", "b")
    assert argv[:4] == ["apply", str(session.plan_file), "--to", "b"]
    assert argv[4:] == ["--var", "region=eu", "--var", "cli=wins"]
    assert not [a for a in argv if target.dsn in a or "postgresql" in a]


def test_a_child_applies_the_plan_with_its_dsn_in_its_environment_only(
    session: Any,
    fleet_databases: FleetDatabases,  # noqa: F811
) -> None:
    (target,) = session.targets
    gate = Gate(target.dsn)
    events: list[dict[str, Any]] = []
    try:
        gate.at_row("events", kind="step", status="started", step="two")
        child = session.child(
            target, session.command(target, "apply", "--to", "b"), on_event=events.append
        )
        results: list[ChildResult] = []
        thread = threading.Thread(target=lambda: results.append(child.run()), daemon=True)
        thread.start()
        held(gate, thread)
        pid = child.process.pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not [a for a in argv if target.dsn.encode() in a]
        assert argv[1:4] == [b"-m", b"migrator", b"apply"]
        assert f"MIGRATOR_DSN={target.dsn}".encode() in environ
        assert not [e for e in environ if e.startswith(b"DATABASE_URL=")]
        gate.open()
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        gate.close()
    (result,) = results
    assert result.exit_code == 0, result.lines
    runs = fleet_databases.sql("acme", "select id from migrator.runs order by id")
    assert result.run_ids == [r[0] for r in runs] == [1]
    assert result.phase == "b" == fleet_databases.phase("acme", "scoring")
    steps = [(e["kind"], e["status"], e["step"]) for e in events if e["kind"] == "step"]
    assert ("step", "done", "one") in steps and ("step", "done", "two") in steps
    assert all(e["run_id"] == 1 for e in events if e.get("run_id") is not None)
    assert target.dsn not in json.dumps(result.document) + "\n".join(result.lines)


def test_an_interrupted_child_stops_at_its_next_safe_point(
    session: Any,
    fleet_databases: FleetDatabases,  # noqa: F811
) -> None:
    (target,) = session.targets
    gate = Gate(target.dsn)
    handled = threading.Event()

    def heard(line: str) -> None:
        if FIRST_SIGNAL_HANDLED in line:
            handled.set()

    def event(value: dict[str, Any]) -> None:
        heard(json.dumps(value))

    try:
        gate.at_row("events", kind="step", status="done", step="one")  # inside step one
        child = session.child(
            target, session.command(target, "apply", "--to", "b"), on_event=event, on_line=heard
        )
        results: list[ChildResult] = []
        thread = threading.Thread(target=lambda: results.append(child.run()), daemon=True)
        thread.start()
        held(gate, thread)
        child.interrupt()
        assert handled.wait(WAIT), "the child never said it would stop"
        gate.open()
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        gate.close()
    (result,) = results
    assert result.exit_code == ExitCode.SIGINT, result.lines
    assert fleet_databases.sql("acme", "select id, status from migrator.runs") == [
        (1, "interrupted")
    ]
    assert fleet_databases.sql(
        "acme", "select to_regclass('one') is not null, to_regclass('two') is null"
    ) == [(True, True)]
    assert result.run_ids == [1]
    assert "interrupted" in result.last_line
