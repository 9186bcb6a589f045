"""What one target says of a plan, read from its own `migrator` schema: the phase, the
last run, a run left open. Read only (a READ ONLY transaction), within a time limit; a
target that cannot be reached is a reading with its reason, never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.fleet.targets import FleetTarget
from migrator.masking import Secrets

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from migrator.state import RunRow


@dataclass(frozen=True)
class TargetReading:
    """One target's state of one plan, or why it could not be read (`error`)."""

    target: FleetTarget
    phase: str | None = None
    last_run: RunRow | None = None
    """Its newest run of the plan (None: the plan never ran there)."""
    last_succeeded: RunRow | None = None
    open_run: RunRow | None = None
    """A run not settled: under way, interrupted, or its undo failed."""
    error: str | None = None
    """Why it could not be read (masked): unreachable, no permission, a timeout."""

    @property
    def reachable(self) -> bool:
        return self.error is None


def read_target(
    target: FleetTarget, plan: str, initial_phase: str, timeout: float, secrets: Secrets
) -> TargetReading:
    """Read `plan`'s state on `target`, waiting at most about `timeout` seconds (to
    connect, and for the statements)."""
    from migrator import state
    from migrator.db.failures import error_text
    from migrator.db.target import Target, scrub

    shown = Target(target.dsn, f"target {target.name}")
    try:
        with read_only(target, timeout) as conn:
            if not state.schema_exists(conn):
                return TargetReading(target, phase=initial_phase)
            runs = state.runs_of(conn, plan, limit=1)
            return TargetReading(
                target,
                phase=state.current_phase(conn, plan, initial_phase),
                last_run=runs[0] if runs else None,
                last_succeeded=state.last_succeeded_run(conn, plan),
                open_run=state.open_run(conn, plan),
            )
    except Exception as exc:  # any failure to read is this target's, reported as such
        return TargetReading(target, error=secrets.mask(scrub(error_text(exc), shown)))


@contextmanager
def read_only(target: FleetTarget, timeout: float) -> Iterator[Connection]:
    """A connection to `target` in a READ ONLY transaction, each wait (to connect, for a
    statement, for a lock) at most about `timeout` seconds; closed after."""
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from migrator.db.target import application_name

    milliseconds = max(1, int(timeout * 1000))

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(
            target.dsn,
            connect_timeout=max(1, round(timeout)),
            application_name=application_name(),
            prepare_threshold=None,
        )

    engine = create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            # Set in the transaction, not as the connection's `options`: PgBouncer refuses
            # that startup parameter ("unsupported startup parameter: options"), and a
            # `set local` holds in transaction pooling too.
            conn.exec_driver_sql("set transaction read only")
            conn.exec_driver_sql(f"set local statement_timeout = {milliseconds}")
            conn.exec_driver_sql(f"set local lock_timeout = {milliseconds}")
            yield conn
    finally:
        engine.dispose()
