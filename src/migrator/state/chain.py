"""Verifying the audit trail: each run's events are a hash chain (`migrator.state.events`).

Every event written since schema version 4 holds its place in its run's chain (`seq`,
from 1), the hash of the event before it (`prev_hash`, empty for the first) and its own
`hash`: sha256 of `prev_hash` and of its content (run, place, UTC time, step, kind,
status, detail, as the server renders them: `events.content_sql`). The run's row holds
the length and the head of its chain. Walking a run's events in order finds every broken
link: an event whose content no longer matches its hash (edited), a gap in the places
(deleted), a place out of order (reordered or inserted), an event that does not follow
the one before it (replaced), one without a hash (written by hand), and a chain shorter
or longer than the run recorded (its last events deleted, or some added after them).

What it cannot see: someone with write access who computes every hash again, the run's
head included (the hash is not keyed), unless the head was kept elsewhere beforehand
(`history --verify` shows it): a trail rewritten since no longer ends there. Runs made
before version 4 are "unchained": shown as such, never refused; a run started after the
upgrade without a chain is broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migrator.errors import MigratorError
from migrator.state.events import content_sql
from migrator.state.sql import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CHAIN_VERSION = 4  # the schema version whose runs have a chain


@dataclass(frozen=True)
class Break:
    """One broken link of a run's chain: at `event_id` (None: at the end of the trail)."""

    run_id: int
    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "the end of the trail"
        return f"{where}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "event_id": self.event_id, "problem": self.problem}


@dataclass(frozen=True)
class Trail:
    """The verdict on one run's trail: chained or not, how many events, what is broken."""

    run_id: int
    chained: bool
    events: int
    breaks: tuple[Break, ...]
    head: str | None = None  # the run's last hash, hex: worth keeping elsewhere (see below)

    @property
    def intact(self) -> bool:
        return not self.breaks

    def as_dict(self) -> dict[str, Any]:
        return {
            "chained": self.chained,
            "events": self.events,
            "intact": self.intact,
            "head": self.head,
            "breaks": [b.as_dict() for b in self.breaks],
        }


class TrailEdited(MigratorError):
    """A run's audit trail was edited: `resume` and `rollback` refuse to act on it (exit 2)."""


@dataclass(frozen=True)
class _Row:
    id: int
    seq: int | None
    prev_hash: bytes | None
    hash: bytes | None
    computed: bytes | None


def verify_runs(conn: Connection, run_ids: list[int]) -> dict[int, Trail]:
    """The verdict on the trail of each run (an id with no run is left out)."""
    if not run_ids:
        return {}
    version = conn.execute(text("select max(version) from migrator.schema_version")).scalar()
    if int(version or 0) < CHAIN_VERSION:  # read before any command upgraded the schema
        counts = conn.execute(
            text(
                "select r.id, count(e.id) from migrator.runs r left join migrator.events e "
                "on e.run_id = r.id where r.id = any(:ids) group by r.id"
            ),
            {"ids": run_ids},
        ).all()
        return {r: Trail(r, False, int(n), ()) for r, n in counts}
    runs = conn.execute(
        text(
            "select r.id, r.chain_length, r.chain_head, r.started_at >= coalesce(("
            "select min(upgraded_at) from migrator.schema_version where version = :v), "
            "'infinity') from migrator.runs r where r.id = any(:ids)"
        ),
        {"ids": run_ids, "v": CHAIN_VERSION},
    ).all()
    rows: dict[int, list[_Row]] = {}
    for run_id, *row in conn.execute(
        text(
            "select e.run_id, e.id, e.seq, e.prev_hash, e.hash, "
            f"sha256(e.prev_hash || {content_sql('e')}) from migrator.events e "
            "where e.run_id = any(:ids) order by e.run_id, e.id"
        ),
        {"ids": run_ids},
    ):
        rows.setdefault(run_id, []).append(
            _Row(row[0], row[1], _bytes(row[2]), _bytes(row[3]), _bytes(row[4]))
        )
    trails = {}
    for run_id, length, head, after_upgrade in runs:
        events = rows.get(run_id, [])
        if length is None:
            breaks = _unchained(run_id, events, bool(after_upgrade))
        else:
            breaks = _walk(run_id, events, int(length), _bytes(head) or b"")
        shown = None if head is None else bytes(head).hex()
        trails[run_id] = Trail(run_id, length is not None, len(events), tuple(breaks), shown)
    return trails


def verify_run(conn: Connection, run_id: int) -> Trail | None:
    """The verdict on one run's trail (None: no such run)."""
    return verify_runs(conn, [run_id]).get(run_id)


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _unchained(run_id: int, events: list[_Row], after_upgrade: bool) -> list[Break]:
    """A run without a chain: fine if it began before the chain did, and none of its
    events has a hash (else its chain was taken off it)."""
    breaks = []
    if after_upgrade:
        breaks.append(
            Break(
                run_id,
                None,
                "the run has no chain though it began after the audit trail was chained "
                "(its chain was removed)",
            )
        )
    breaks += [
        Break(run_id, e.id, "hashed, in a run without a chain (its chain was removed)")
        for e in events
        if e.hash is not None
    ]
    return breaks


def _walk(run_id: int, events: list[_Row], length: int, head: bytes) -> list[Break]:
    """Every broken link of a chained run's events, in order, and at its end."""
    breaks = []
    expected, prev, last_hash = 1, b"", b""

    def broken(event_id: int | None, problem: str) -> None:
        breaks.append(Break(run_id, event_id, problem))

    for e in events:
        if e.seq is None or e.hash is None or e.prev_hash is None:
            broken(e.id, "it has no hash: written outside migrator (inserted)")
            continue
        if e.computed != e.hash:
            broken(e.id, "its content was edited: its hash does not match what it holds")
        if e.seq > expected:
            missing = e.seq - expected
            broken(
                e.id,
                f"{missing} event{'s' if missing > 1 else ''} missing before it "
                f"(it is number {e.seq} of the chain, {expected} was expected)",
            )
        elif e.seq < expected:
            broken(
                e.id,
                f"out of order: it is number {e.seq} of the chain, after number {expected - 1} "
                "(events reordered, or one inserted)",
            )
        elif e.prev_hash != prev:
            broken(e.id, "it does not follow the event before it (an event replaced or inserted)")
        expected, prev, last_hash = max(expected, e.seq + 1), e.hash, e.hash
    recorded = expected - 1
    if length > recorded:
        missing = length - recorded
        broken(
            None,
            f"the last {missing} event{'s' if missing > 1 else ''} of the run "
            f"{'are' if missing > 1 else 'is'} missing (the run recorded {length}, "
            f"the trail ends at {recorded})",
        )
    elif length < recorded:
        broken(None, f"the trail goes on past the run's recorded end ({length} events)")
    elif last_hash != head:
        broken(None, "the last event is not the one the run recorded (replaced)")
    return breaks


def refuse_edited(conn: Connection, run_ids: list[int], plan_file: str) -> None:
    """Raise TrailEdited (exit 2) when the trail of any of these runs is broken: naming
    the run and its first broken event. Nothing is written."""
    for run_id, trail in sorted(verify_runs(conn, run_ids).items()):
        if trail.intact:
            continue
        count = len(trail.breaks)
        raise TrailEdited(
            f"the audit trail of run {run_id} was edited: {trail.breaks[0]} "
            f"({count} broken link{'s' if count > 1 else ''} in all; `migrator history "
            f"{plan_file} --verify` lists them). Nothing was done: a trail that was edited "
            "is not acted on"
        )
