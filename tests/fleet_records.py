"""What the tests of `fleet status`, `fleet rollback` and `fleet plan` stand on: a plan,
targets really moved by `migrator apply` processes, and the ledger a `fleet apply` keeps.

The targets are moved here by real `migrator apply` processes (the foundation's `Child`,
the DSN in its environment) and the ledger written with the foundation's `Book` exactly as
`fleet apply` records a rollout (each target `moved` from its phase by its runs, or
`in_phase`, `failed`, `not_started`), so that these commands are tested on their own; the
end-to-end scenario of a whole rollout (`fleet apply`, then `fleet rollback`) is the
apply feature's.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from migrator.fleet.child import Child
from migrator.fleet.ledger import (
    Book,
    FileLedger,
    RolloutRecord,
    TargetRecord,
    rollout_id,
)
from migrator.masking import Secrets
from tests.fleets import FleetDatabases

SHOP = """\
plan: shop
phases: [initial, expanded]
transitions:
  - name: expand
    from: initial
    to: expanded
    pre_checks:
      - name: orders exist
        query: select count(*) from pg_class where relname = 'orders'
        expect: 1
    steps:
      - {name: add extra, sql: "create table extra (id int)", rollback: {sql: "drop table extra"}}
"""

TWO_WAVES = "  - {name: canary, match: {group: canary}}\n  - {name: rest, parallel: 2}\n"
FAST_RETRY = "retry: {attempts: 1, backoff: 0.1s}\n"


GATED_UNDO = SHOP + (
    "      - {name: gate, sql: select 1, rollback: {sql: select pg_advisory_xact_lock(42)}}\n"
)
"""Plan shop whose rollback waits for advisory lock 42 first (a test holding it holds the
rollback there)."""


def write_shop(folder: Path, text: str = SHOP) -> Path:
    path = folder / "shop.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def execute(fleet: FleetDatabases, target: str, statement: str) -> None:
    """Run `statement` (no rows) on `target`'s database."""
    import psycopg

    with psycopg.connect(fleet.dsns[target], autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def with_orders(fleet: FleetDatabases, *targets: str) -> None:
    """The table the plan's pre-check asks for, on `targets`."""
    for target in targets:
        execute(fleet, target, "create table orders (id int)")


def apply_by_hand(
    fleet: FleetDatabases,
    plan: Path,
    target: str,
    *args: str,
    operator: str = "by-hand",
    pids: list[int] | None = None,
) -> list[int]:
    """`migrator apply PLAN --to expanded` (or `migrator ARGS`) on `target`, as a process
    (the table its pre-check asks for made first); the runs it made (its pid appended to
    `pids`, as `fleet apply` records it before the process can make a run)."""
    argv = list(args) or ["apply", str(plan), "--to", "expanded"]
    execute(fleet, target, "create table if not exists orders (id int)")  # its pre-check
    started = pids.append if pids is not None else None
    result = Child(
        [*argv, "--operator", operator], fleet.dsns[target], Secrets(), on_start=started
    ).run()
    assert result.exit_code == 0, result.lines
    return result.run_ids


def ledger_of(fleet_file: Path) -> FileLedger:
    return FileLedger("tenants", fleet_file.with_name(fleet_file.name + ".ledger.json"))


def record_rollout(
    fleet: FleetDatabases,
    fleet_file: Path,
    plan: Path,
    moved: dict[str, str],
    others: dict[str, tuple[str, str]] | None = None,
    waves: tuple[str, ...] = ("canary", "rest"),
    variables: dict[str, str] | None = None,
    to: str = "expanded",
) -> RolloutRecord:
    """Move each target of `moved` ({name: wave}) with `migrator apply` (to `to`, with
    `variables` as its `--var`s), and record the rollout in the fleet's ledger as `fleet
    apply` does (its commands' pids, their runs, the apply's --vars); `others` ({name:
    (wave, state)}) recorded as targets it did not move."""
    ledger = ledger_of(fleet_file)
    document = ledger.load()
    rollout = RolloutRecord(
        id=rollout_id("shop", to),
        plan="shop",
        plan_file=str(plan),
        to=to,
        operator="release",
        waves=list(waves),
        variables=dict(variables or {}),
    )
    for name, wave in {**moved, **{n: w for n, (w, _) in (others or {}).items()}}.items():
        rollout.targets[name] = TargetRecord(wave=wave)
    document.rollouts.append(rollout)
    book = Book(ledger, document, rollout)
    given = [a for k, v in (variables or {}).items() for a in ("--var", f"{k}={v}")]
    for name in moved:
        pids: list[int] = []
        runs = apply_by_hand(
            fleet,
            plan,
            name,
            "apply",
            str(plan),
            "--to",
            to,
            *given,
            operator="release",
            pids=pids,
        )
        book.update(
            name,
            state="moved",
            from_phase="initial",
            phase=to,
            exit_code=0,
            attempts=1,
            runs=runs,
            pids=pids,
        )
    for name, (_wave, state) in (others or {}).items():
        book.update(name, state=state, from_phase=fleet.phase(name, "shop") or "initial")
    book.set_status("completed", ended=True)
    return rollout


def runs_of(fleet: FleetDatabases, target: str) -> list[tuple[object, ...]]:
    """Every run of plan shop on `target` (id, transition, status, reverts, started_at)."""
    if fleet.phase(target, "shop") is None:
        return []
    return fleet.sql(
        target,
        "select id, transition, status, reverts, started_at from migrator.runs "
        "where plan = 'shop' order by id",
    )


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: its port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        while not closing.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        closing.set()
        server.close()
        for conn in held:
            conn.close()


def add_targets(fleet_file: Path, lines: list[str]) -> None:
    """More target lines (YAML list items, two spaces in) before the fleet file's waves."""
    text = fleet_file.read_text(encoding="utf-8")
    head, tail = text.split("waves:\n", 1)
    fleet_file.write_text(head + "".join(f"{line}\n" for line in lines) + "waves:\n" + tail)


def killed_apply(fleet_file: Path, rollout: RolloutRecord, target: str) -> None:
    """What a `fleet apply` SIGKILLed while `target`'s command ran leaves in the ledger:
    the target `running`, its command's pid (recorded before it started), no run (its end
    never heard). `record_rollout` ran that command: only its runs are forgotten."""
    ledger = ledger_of(fleet_file)
    document = ledger.load()
    record = next(r for r in document.rollouts if r.id == rollout.id)
    record.targets[target].state = "running"
    record.targets[target].runs = []
    record.status = "running"
    record.ended_at = None
    ledger.save(document)
