"""`migrator.events`: the audit trail, one row per thing that happened in a run."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from migrator.state.kinds import EventKind, EventStatus, RunStatus
from migrator.state.sql import text
from migrator.storable import storable_json, storable_text

if TYPE_CHECKING:
    from sqlalchemy import TextClause
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class EventRow:
    id: int
    run_id: int
    at: datetime
    step: str | None
    kind: str
    status: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# The content an event's hash covers, as the server renders it (jsonb's text is canonical,
# the time is UTC text whatever the session's TimeZone): the same expression when the
# event is written and when its trail is verified (`migrator.state.chain`).
def content_sql(e: str) -> str:
    """The bytes hashed for the event (or row) aliased `e`: its run, place in the chain,
    time, step, kind, status and detail, as one jsonb array's text."""
    return (
        f"convert_to(jsonb_build_array({e}.run_id, {e}.seq, "
        f"to_char({e}.at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        f"{e}.step, {e}.kind, {e}.status, {e}.detail)::text, 'UTF8')"
    )


@cache
def _insert(durable: bool, held: bool) -> TextClause:
    """The insert of an event, chained to the head of its run's chain.

    `held`: the run's row is locked (`for no key update`: not waiting for the key share
    lock an uncommitted event's foreign key holds) before the head is read, so that events
    of one run written from several connections follow one another, never fork; the head
    moves to the new event in the same statement. Not `held`: the head is only read (or
    the event follows `:after_seq`, `:after_hash`, an event of the same transaction), and
    moved later by `seal_chain`. A run without a chain (made before schema version 4)
    gets events without one.
    """
    # Without `durable`, the transaction's commit does not wait for the disk: the same
    # insert in one round trip.
    lazily = "" if durable else ", (select set_config('synchronous_commit', 'off', true)) as lazily"
    follows = (
        "head.chain_length + 1 as seq, head.chain_head as prev_hash"
        if held
        else "case when head.chain_length is null then null else coalesce("
        "cast(:after_seq as bigint), head.chain_length) + 1 end as seq, "
        "case when head.chain_length is null then null else coalesce("
        "cast(:after_hash as bytea), head.chain_head) end as prev_hash"
    )
    moved = (
        ", moved as (update migrator.runs r set chain_length = h.seq, chain_head = h.hash "
        "from hashed h where r.id = h.run_id and h.seq is not null) "
        if held
        else " "
    )
    return text(
        "with head as (select chain_length, chain_head from migrator.runs "
        f"where id = :r{' for no key update' if held else ''}), "
        "ev as (select cast(:r as bigint) as run_id, clock_timestamp() as at, "
        "cast(:step as text) as step, cast(:k as text) as kind, cast(:s as text) as status, "
        f"cast(:d as jsonb) as detail, {follows} "
        f"from (select 1) as one left join head on true{lazily}), "
        f"hashed as (select ev.*, sha256(ev.prev_hash || {content_sql('ev')}) as hash from ev)"
        f"{moved}"
        "insert into migrator.events (run_id, at, step, kind, status, detail, seq, prev_hash, "
        "hash) select run_id, at, step, kind, status, detail, seq, prev_hash, hash from hashed "
        "returning id, seq, prev_hash, hash"
    )


@dataclass(frozen=True)
class Link:
    """An event written and where it stands in its run's chain (None: no chain)."""

    id: int
    seq: int | None
    prev_hash: bytes | None
    hash: bytes | None


def record_event(
    conn: Connection,
    run_id: int,
    kind: EventKind,
    status: EventStatus | RunStatus,
    *,
    step: str | None = None,
    detail: Mapping[str, Any] | None = None,
    durable: bool = True,
) -> int:
    """Add an event to the audit trail; its id. An event of kind `state` has the run's
    new `RunStatus` for its status, any other an `EventStatus`.

    The event is chained to the run's events before it (`_insert`; verified by
    `migrator.state.chain`); writing it locks the run's row until the transaction ends.

    Whatever `detail` holds is stored (`migrator.storable`): a NUL character, text that
    was not UTF-8, NaN or 10 MB of a program's output never make the insert fail.

    `durable=False` turns `synchronous_commit` off for the rest of the transaction: only
    for an event in a transaction of its own, whose loss in a crash of the server itself
    (never of migrator's process) nothing depends on.
    """
    return write_event(conn, run_id, kind, status, step=step, detail=detail, durable=durable).id


def write_event(
    conn: Connection,
    run_id: int,
    kind: EventKind,
    status: EventStatus | RunStatus,
    *,
    step: str | None = None,
    detail: Mapping[str, Any] | None = None,
    durable: bool = True,
    held: bool = True,
    after: Link | None = None,
) -> Link:
    """`record_event`, and where the event stands in the chain.

    `held=False`: the run's row is not locked, and the chain's head not moved, until
    `seal_chain(conn, run_id, links)` does both, before the transaction commits: for an
    event in a step's transaction, whose process may be held there (frozen, or waiting
    on a lock) while another process takes the run over; that process must not wait
    for it. `after`: the event of the same transaction it follows, if any.
    """
    row = conn.execute(
        _insert(durable, held),
        {
            "r": run_id,
            "step": None if step is None else storable_text(step),
            "k": str(kind),
            "s": str(status),
            "d": storable_json(dict(detail or {})),
            **(
                {}
                if held
                else {"after_seq": after and after.seq, "after_hash": after and after.hash}
            ),
        },
    ).one()
    return Link(int(row[0]), row[1], _bytes(row[2]), _bytes(row[3]))


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class ChainMoved(RuntimeError):
    """Events of a run were written by another connection while a transaction held events
    of it not yet sealed: sealing them would fork the chain (the transaction must roll back)."""

    def __init__(self, run_id: int, event_id: int) -> None:
        super().__init__(
            f"the audit trail of run {run_id} moved while a step's transaction held its "
            f"event {event_id}: another connection wrote events of the run"
        )


def seal_chain(conn: Connection, run_id: int, links: list[Link], owner: str | None = None) -> bool:
    """Move the head of run `run_id`'s chain past `links`, events of this transaction
    written without holding the run's row (`write_event(held=False)`, each after the one
    before), locking the row: one statement. False, nothing done, when the chain moved
    meanwhile (see ChainMoved), or token `owner` (if given) no longer owns the run.
    Events of a run without a chain need no seal (True)."""
    first = links[0] if links else None
    if first is None or first.seq is None:
        return True
    last = links[-1]
    owned = " and owner = cast(:owner as uuid)" if owner is not None else ""
    sealed = conn.execute(
        text(
            "update migrator.runs set chain_length = :n, chain_head = :h where id = :r "
            f"and chain_length = :before and chain_head = :prev{owned} returning 1"
        ),
        {
            "n": last.seq,
            "h": last.hash,
            "r": run_id,
            "before": first.seq - 1,
            "prev": first.prev_hash,
            "owner": owner,
        },
    ).first()
    return sealed is not None


def events_of(conn: Connection, run_ids: list[int]) -> list[EventRow]:
    """Every event of these runs, in the order they happened."""
    if not run_ids:
        return []
    rows = conn.execute(
        text(
            "select id, run_id, at, step, kind, status, detail from migrator.events "
            "where run_id = any(:ids) order by id"
        ),
        {"ids": run_ids},
    ).all()
    return [EventRow(*r) for r in rows]


def step_indexes(
    conn: Connection, run_id: int, kind: EventKind, statuses: Collection[EventStatus]
) -> set[int]:
    """The indexes of the steps with an event of `kind` in one of `statuses` (e.g. the
    steps done, or the undos skipped)."""
    details = conn.execute(
        text(
            "select detail from migrator.events where run_id = :r and kind = :k "
            "and status = any(:s)"
        ),
        {"r": run_id, "k": str(kind), "s": [str(s) for s in statuses]},
    ).scalars()
    return {int(d["index"]) for d in details}


def steps_done(conn: Connection, run_id: int) -> list[tuple[EventStatus, dict[str, Any]]]:
    """(status, detail) of every step of the run recorded `done`, or `failed` part way
    (its detail says `partial`), in the order they ran."""
    rows = conn.execute(
        text(
            "select status, detail from migrator.events where run_id = :r and kind = :step "
            "and (status = :done or (status = :failed and (detail->>'partial')::boolean)) "
            "order by id"
        ),
        {
            "r": run_id,
            "step": str(EventKind.STEP),
            "done": str(EventStatus.DONE),
            "failed": str(EventStatus.FAILED),
        },
    ).all()
    return [(EventStatus(status), detail) for status, detail in rows]


def steps_unended(conn: Connection, run_id: int) -> list[int]:
    """The indexes of the run's steps recorded `started` and never `done` or `failed`, in
    the order they started: a process killed while they ran (or, in a transaction, before
    their commit, which then left nothing)."""
    rows = conn.execute(
        text(
            "select (s.detail->>'index')::int from migrator.events s "
            "where s.run_id = :r and s.kind = :step and s.status = :started "
            "and not exists (select 1 from migrator.events e where e.run_id = s.run_id "
            "and e.kind = s.kind and e.status in (:done, :failed) "
            "and e.detail->'index' = s.detail->'index') order by s.id"
        ),
        {
            "r": run_id,
            "step": str(EventKind.STEP),
            "started": str(EventStatus.STARTED),
            "done": str(EventStatus.DONE),
            "failed": str(EventStatus.FAILED),
        },
    ).all()
    return list(dict.fromkeys(int(index) for (index,) in rows))


def approved(conn: Connection, run_id: int) -> bool:
    """Whether the run's approval was given (an `approval` event `approved`)."""
    row = conn.execute(
        text("select 1 from migrator.events where run_id = :r and kind = :k and status = :s"),
        {"r": run_id, "k": str(EventKind.APPROVAL), "s": str(EventStatus.APPROVED)},
    ).first()
    return row is not None


_LAST_EVENT = {
    "step": "select step from migrator.events where run_id = :r and kind = :k "
    "and status = :s order by id desc limit 1",
    "from": "select detail->>'from' from migrator.events where run_id = :r and kind = :k "
    "and status = :s order by id desc limit 1",
}


def _last(conn: Connection, run_id: int, read: str, kind: str, status: str) -> str | None:
    """What `_LAST_EVENT[read]` reads of the run's last event of `kind` and `status`."""
    found = conn.execute(
        text(_LAST_EVENT[read]), {"r": run_id, "k": str(kind), "s": str(status)}
    ).scalar()
    return None if found is None else str(found)


def last_step_done(conn: Connection, run_id: int) -> str | None:
    """The name of the run's step recorded done last, if any."""
    return _last(conn, run_id, "step", EventKind.STEP, EventStatus.DONE)


def interrupted_from(conn: Connection, run_id: int) -> str | None:
    """The status the run was in when it was last recorded interrupted (`undoing`: its
    undo was under way, and settling it means finishing the undo), if it ever was."""
    return _last(conn, run_id, "from", EventKind.STATE, RunStatus.INTERRUPTED)
