"""What a rehearsal copies of the target's migrator state into its scratch database:
the plan's phase and the flags table.

These take psycopg connections: the rehearsal reads the target on a read-only
psycopg session and seeds the scratch database on another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Seed:
    """The target's phase of a plan (None: never recorded) and its flags, as text;
    `secret`: the names of the flags set from a secret (masked in all a rehearsal shows)."""

    phase: str | None = None
    flags: list[tuple[str, str, str | None]] = field(default_factory=list)
    secret: frozenset[str] = frozenset()


def read_seed(source: psycopg.Connection[Any], plan: str) -> Seed:
    """The plan's phase and the flags on the target (read only; in a transaction)."""
    with source.transaction():
        row = source.execute("select to_regclass('migrator.plan_state')").fetchone()
        if row is None or row[0] is None:
            return Seed()
        phase = source.execute(
            "select phase from migrator.plan_state where plan = %s", (plan,)
        ).fetchone()
        flags = source.execute(
            "select name, value::text, updated_by from migrator.flags order by name"
        ).fetchall()
        secret: list[Any] = []
        marked = source.execute("select to_regclass('migrator.secret_flags')").fetchone()
        if marked is not None and marked[0] is not None:
            secret = source.execute(
                "select name from migrator.secret_flags where store = 'table'"
            ).fetchall()
    return Seed(
        None if phase is None else str(phase[0]),
        [(str(n), str(v), None if by is None else str(by)) for n, v, by in flags],
        frozenset(str(n) for (n,) in secret),
    )


def write_seed(scratch: psycopg.Connection[Any], plan: str, seed: Seed, phase: str | None) -> None:
    """Give the scratch database (its schema `migrator` made) the seed's flags, and the
    plan's `phase` unless None; in the caller's transaction."""
    for name, value, updated_by in seed.flags:
        scratch.execute(
            "insert into migrator.flags (name, value, updated_by) "
            "values (%s, cast(%s as jsonb), %s)",
            (name, value, updated_by),
        )
        if name in seed.secret:
            scratch.execute(
                "insert into migrator.secret_flags (store, name) values ('table', %s)", (name,)
            )
    if phase is not None:
        scratch.execute(
            "insert into migrator.plan_state (plan, phase) values (%s, %s)", (plan, phase)
        )
