"""The fleet's own record: which targets a rollout moved, from which phase, by which runs.

Each target keeps its truth in its own `migrator` schema; the ledger only remembers what
this fleet did, so that `fleet rollback` takes back exactly the targets a rollout moved and
`fleet apply` again resumes it. It is a JSON file beside the fleet file
(`<fleet file>.ledger.json`), written whole to a temporary file, flushed to the disk and
renamed over the old one (a crash leaves the old or the new, never half of one); or, with
`ledger: DSN` in the fleet file, a row of the table `migrator.fleet_ledgers` there. Either
way one fleet command at a time holds it (a lock file's `flock`, or an advisory lock):
a second one is refused with exit 4.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migrator.errors import ExitCode, MigratorError
from migrator.fleet.model import Fleet

TargetState = Literal[
    "pending",  # not started yet
    "running",  # its `migrator` process was started (the target may have moved: read it)
    "moved",  # this rollout moved it to the phase
    "in_phase",  # it was in the phase already: nothing done
    "failed",  # its apply ended with a failure (exit 1, 2, 3, 6)
    "unreachable",  # exit 4 or 5 after every retry
    "not_started",  # the rollout stopped before its turn
    "rolled_back",  # `fleet rollback` took this rollout's transition back
    "rollback_failed",
    "moved_since",  # another run moved it after this rollout: not rolled back
]
RolloutStatus = Literal["running", "stopped", "completed", "rolling_back", "rolled_back"]


def now() -> datetime:
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class TargetRecord(_Record):
    """What the rollout did on one target."""

    wave: str
    state: TargetState = "pending"
    from_phase: str | None = None
    """The phase it was in when this rollout first started it (None: not read yet)."""
    phase: str | None = None
    """The phase it was last seen in."""
    exit_code: int | None = None
    attempts: int = 0
    runs: list[int] = Field(default_factory=list)
    """The runs (ids in the target's own `migrator.runs`) this rollout's commands made."""
    pids: list[int] = Field(default_factory=list)
    """The process ids of the `migrator` commands this rollout started for the target (on
    the rollout's host), recorded before each starts: a run of the target's made by one of
    them is this rollout's, even when the fleet was killed before it heard how it ended."""
    message: str = ""
    """The last line its command said (masked), or why it failed."""
    started_at: datetime | None = None
    ended_at: datetime | None = None


class RolloutRecord(_Record):
    """One `fleet apply` of a plan to a phase, and everything run again to finish it."""

    id: str
    plan: str
    plan_file: str
    to: str
    operator: str
    host: str = Field(default_factory=socket.gethostname)
    started_at: datetime = Field(default_factory=now)
    ended_at: datetime | None = None
    status: RolloutStatus = "running"
    waves: list[str] = Field(default_factory=list)
    variables: dict[str, str] = Field(default_factory=dict)
    """The command line's `--var`s of the apply (plain values, as every target's argv shows
    them): `fleet rollback` gives them again, so an undo sees the values its step saw."""
    targets: dict[str, TargetRecord] = Field(default_factory=dict)

    def made_by_it(self, target: str, host: str, pid: int) -> bool:
        """Whether a run of `target` made on `host` by process `pid` (its `migrator.runs`
        row's `host` and `pid`) is this rollout's: one of the commands it started."""
        record = self.targets.get(target)
        return record is not None and host == self.host and pid in record.pids

    def moved(self) -> list[str]:
        """The targets this rollout moved, in the order of its waves."""
        order = {wave: index for index, wave in enumerate(self.waves)}
        names = [n for n, r in self.targets.items() if r.state in ("moved", "rollback_failed")]
        return sorted(names, key=lambda n: order.get(self.targets[n].wave, len(order)))


class LedgerDocument(_Record):
    fleet: str
    version: int = 1
    rollouts: list[RolloutRecord] = Field(default_factory=list)

    def latest(self, plan: str) -> RolloutRecord | None:
        """The last rollout of `plan` (None: this fleet never applied it)."""
        return next((r for r in reversed(self.rollouts) if r.plan == plan), None)


class LedgerBusy(MigratorError):
    """Another fleet command holds this fleet's ledger."""

    exit_code = ExitCode.LOCKED


class LedgerUnreadable(MigratorError):
    """The ledger is not a ledger (edited by hand, another program's file)."""


class LedgerStore(Protocol):
    """Where a fleet's ledger is kept."""

    @property
    def where(self) -> str:
        """The ledger's place as it may be shown (a path, or a DSN without its password)."""

    def held(self) -> contextlib.AbstractContextManager[None]:
        """Hold the ledger for one command; LedgerBusy if another command holds it."""

    def load(self) -> LedgerDocument: ...

    def save(self, document: LedgerDocument) -> None: ...


def open_ledger(fleet: Fleet, dsn: str | None = None) -> LedgerStore:
    """The fleet's ledger: a table in the `ledger:` database (its DSN resolved: `dsn`),
    else the file beside the fleet file."""
    if dsn is not None:
        return TableLedger(fleet.name, dsn)
    return FileLedger(fleet.name, fleet.file.with_name(fleet.file.name + ".ledger.json"))


class FileLedger:
    def __init__(self, fleet: str, path: Path) -> None:
        self.fleet = fleet
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LedgerBusy(
                    f"another fleet command holds the ledger of fleet {self.fleet} "
                    f"({self.path}); wait for it to end"
                ) from None
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock, even after a SIGKILL

    def load(self) -> LedgerDocument:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return LedgerDocument(fleet=self.fleet)
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerUnreadable(f"cannot read the ledger {self.path}: {exc}") from None
        return _parsed(text, self.fleet, str(self.path))

    def save(self, document: LedgerDocument) -> None:
        text = document.model_dump_json(indent=2) + "\n"
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            try:
                data = memoryview(text.encode("utf-8"))
                while data:  # os.write may write part of it (a full disk: then it raises)
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)  # the old ledger stays whole; no half of a new one
            raise
        with contextlib.suppress(OSError):  # the rename itself made durable
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


def _parsed(text: str, fleet: str, where: str) -> LedgerDocument:
    try:
        document = LedgerDocument.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"]) or "the document"
        raise LedgerUnreadable(
            f"the ledger {where} is not a migrator fleet ledger ({at}: {first['msg']}); "
            "move it away to start a new one"
        ) from None
    if document.fleet != fleet:
        raise LedgerUnreadable(f"the ledger {where} is fleet {document.fleet}'s, not {fleet}'s")
    return document


class TableLedger:
    """The ledger as a row of `migrator.fleet_ledgers` in a database of its own."""

    def __init__(self, fleet: str, dsn: str) -> None:
        self.fleet = fleet
        self.dsn = dsn
        self._conn: Any = None
        self._made = False

    @property
    def where(self) -> str:
        from migrator.db.target import redact

        return f"table migrator.fleet_ledgers at {redact(self.dsn)}"

    def _connect(self) -> Any:
        import psycopg

        from migrator.db.target import Target, application_name, scrub
        from migrator.errors import DatabaseUnreachable

        target = Target(self.dsn, "the fleet's ledger")
        try:
            return psycopg.connect(
                self.dsn,
                connect_timeout=10,
                application_name=application_name(),
                autocommit=True,
                prepare_threshold=None,
            )
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
            raise DatabaseUnreachable(target.shown, scrub(reason, target)) from None

    def _ensure_schema(self) -> None:
        """The `migrator` schema in the ledger's database, made at the first write (a
        command with nothing to write leaves that database as it found it)."""
        from sqlalchemy import create_engine

        from migrator.state.schema import ensure_schema

        engine = create_engine("postgresql+psycopg://", creator=self._connect)
        try:
            with engine.connect() as schema_conn:
                ensure_schema(schema_conn)
        finally:
            engine.dispose()
        self._made = True

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        conn = self._connect()
        try:
            key = _lock_key(self.fleet)
            if not conn.execute("select pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                raise LedgerBusy(
                    f"another fleet command holds the ledger of fleet {self.fleet} "
                    f"({self.where}); wait for it to end"
                )
            self._conn = conn
            yield
        finally:
            self._conn = None
            conn.close()  # the session's advisory lock goes with it

    @contextlib.contextmanager
    def _session(self) -> Iterator[Any]:
        """The held connection (whose session holds the fleet's lock); outside `held()`, a
        connection of its own for one read, closed after it."""
        if self._conn is not None:
            if self._conn.closed:  # its session, and the lock with it, is gone
                raise LedgerUnreadable(
                    f"the connection to the ledger ({self.where}) was lost, and the fleet's "
                    "lock with it: run the fleet command again"
                )
            yield self._conn
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def load(self) -> LedgerDocument:
        """The fleet's document; an empty one where no fleet command made the table yet
        (`fleet status` reads the ledger without holding it, or creating anything)."""
        with self._session() as conn:
            made = conn.execute("select to_regclass('migrator.fleet_ledgers')").fetchone()
            if made is None or made[0] is None:
                return LedgerDocument(fleet=self.fleet)
            row = conn.execute(
                "select document::text from migrator.fleet_ledgers where fleet = %s",
                (self.fleet,),
            ).fetchone()
        if row is None:
            return LedgerDocument(fleet=self.fleet)
        return _parsed(row[0], self.fleet, self.where)

    def save(self, document: LedgerDocument) -> None:
        if not self._made:
            self._ensure_schema()
        with self._session() as conn:
            conn.execute(
                "insert into migrator.fleet_ledgers (fleet, document, updated_at) "
                "values (%s, %s::jsonb, now()) on conflict (fleet) do update "
                "set document = excluded.document, updated_at = now()",
                (self.fleet, document.model_dump_json()),
            )


def _lock_key(fleet: str) -> int:
    """The advisory lock key of a fleet's ledger (a signed 64-bit number from its name)."""
    digest = hashlib.sha256(f"migrator fleet {fleet}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Book:
    """A rollout's record kept current: each change to a target written through at once
    (the ledger is the record a crash leaves), from any of the rollout's threads."""

    def __init__(self, store: LedgerStore, document: LedgerDocument, rollout: RolloutRecord):
        self.store = store
        self.document = document
        self.rollout = rollout
        self._lock = threading.Lock()

    def target(self, name: str) -> TargetRecord:
        with self._lock:
            return self.rollout.targets[name].model_copy()

    def update(self, name: str, **changes: Any) -> None:
        """Set fields of target `name`'s record, and write the ledger."""
        with self._lock:
            record = self.rollout.targets[name]
            for key, value in changes.items():
                setattr(record, key, value)
            self.store.save(self.document)

    def set_status(self, status: RolloutStatus, *, ended: bool = False) -> None:
        with self._lock:
            self.rollout.status = status
            self.rollout.ended_at = now() if ended else None
            self.store.save(self.document)


def rollout_id(plan: str, to: str) -> str:
    """A rollout's id: when it started, and what (`20261205T174000Z-scoring-dual_write`)."""
    return f"{now().strftime('%Y%m%dT%H%M%SZ')}-{plan}-{to}"


def dumped(record: BaseModel) -> dict[str, Any]:
    """A record as plain JSON data (times in ISO 8601)."""
    data: dict[str, Any] = json.loads(record.model_dump_json())
    return data
