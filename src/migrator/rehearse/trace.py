"""A rehearsal's trace: what each step did to the scratch copy's relations, as PostgreSQL saw it.

For every step the walk runs (`roundtrip.Walk`), the `Tracer` (the run's `StepObserver`,
`migrator.engine.environment`) reads:

- **locks**: from `pg_locks` of the step's own backend, inside its transaction once its
  work is done and before it commits: every relation lock it holds on a relation that
  existed before the step, every mode held on it that no other mode it holds there
  covers (conflicts with all it conflicts with): SHARE and SHARE UPDATE EXCLUSIVE both.
  Left out: relations the step itself created (a new table's ACCESS EXCLUSIVE blocks
  nobody), schema `migrator` (the audit trail), the catalogs and temporary relations,
  and the locks an index or a sequence takes beside its table when read or written (up
  to ROW EXCLUSIVE). A step outside a transaction (`autocommit: true`, a backfill,
  HTTP...) commits statement by statement on a connection of its own: its locks are not
  traced (`locks_traced: false`), what follows is.
- **rewritten**: the tables, materialized views and indexes whose `pg_class.relfilenode`
  changed between before and after the step (an index only when its table was not
  rewritten with it).
- **constraints**: those added (valid or NOT VALID) and those validated.
- **indexes**: those built, and whether they are valid.

Tracing never fails a step: what goes wrong in the tracer (a catalog that cannot be read,
an error in its transaction's savepoint) is the engine's to pass to `Tracer.failed`, and
that step's trace says it `could not be traced` and why (`not_traced` in JSON).

Lock modes and rewrites do not depend on the rows: they show on a copy of the schema
alone. A plan's lint findings that predict a lock or a rewrite (`LintFinding.trace`) are
then confirmed or refuted by what their step did (`verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from migrator.engine.operations import Operation
    from migrator.lint.findings import LintFinding

# The table-level lock modes, weakest first (PostgreSQL's "Table-Level Locks").
MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
COMPANION = MODES.index("RowExclusiveLock")  # an index's or sequence's lock beside its table

# What each mode conflicts with (PostgreSQL's "Conflicting Lock Modes" table). The modes are
# no total order: SHARE and SHARE UPDATE EXCLUSIVE each block what the other lets through.
_A, _RS, _RE, _SUE, _S, _SRE, _E, _AE = MODES
CONFLICTS: dict[str, frozenset[str]] = {
    _A: frozenset({_AE}),
    _RS: frozenset({_E, _AE}),
    _RE: frozenset({_S, _SRE, _E, _AE}),
    _SUE: frozenset({_SUE, _S, _SRE, _E, _AE}),
    _S: frozenset({_RE, _SUE, _SRE, _E, _AE}),
    _SRE: frozenset({_RE, _SUE, _S, _SRE, _E, _AE}),
    _E: frozenset({_RS, _RE, _SUE, _S, _SRE, _E, _AE}),
    _AE: frozenset(MODES),
}


def covers(held: str, wanted: str) -> bool:
    """Whether holding `held` blocks all that `wanted` blocks (the same mode or a stronger
    one: its conflicts include all of `wanted`'s)."""
    if held == wanted:
        return True
    if held not in CONFLICTS or wanted not in CONFLICTS:
        return False
    return CONFLICTS[wanted] <= CONFLICTS[held]


_USER = """
  n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'migrator')
  and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%'
"""
RELATIONS = f"""
select c.oid::bigint, n.nspname, c.relname, c.relkind::text, c.relfilenode::bigint,
       i.indrelid::bigint, coalesce(i.indisvalid, true),
       array(select pn.nspname || '.' || pc.relname from pg_partition_ancestors(c.oid) a
              join pg_class pc on pc.oid = a.relid join pg_namespace pn on pn.oid = pc.relnamespace
              where a.relid <> c.oid and c.relispartition)
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_index i on i.indexrelid = c.oid
 where c.relkind in ('r', 'p', 'm', 'i', 'I', 'f', 'v', 'S') and {_USER}
"""
CONSTRAINTS = f"""
select k.oid::bigint, n.nspname, c.relname, k.conname, k.contype::text, k.convalidated
  from pg_constraint k
  join pg_class c on c.oid = k.conrelid
  join pg_namespace n on n.oid = c.relnamespace
 where {_USER}
"""
LOCKS = """
select relation::bigint, mode from pg_locks
 where pid = pg_backend_pid() and locktype = 'relation' and granted
   and database = (select oid from pg_database where datname = current_database())
"""
CONSTRAINT_KINDS = {
    "c": "check",
    "f": "foreign key",
    "p": "primary key",
    "u": "unique",
    "x": "exclusion",
    "t": "trigger",
    "n": "not null",
}


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # pg_class.relkind
    filenode: int
    table: int | None  # an index's table
    valid: bool  # an index's indisvalid
    ancestors: tuple[str, ...] = ()  # a partition's partitioned tables, `schema.name`

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Catalog:
    """The user relations and constraints of a database at one moment, by oid."""

    relations: dict[int, Relation]
    constraints: dict[int, tuple[str, str, str, bool]]  # relation, name, kind, validated


def read_catalog(conn: Connection) -> Catalog:
    relations = {
        int(row[0]): Relation(
            row[1], row[2], row[3], int(row[4]), row[5], bool(row[6]), tuple(row[7] or ())
        )
        for row in conn.execute(text(RELATIONS))
    }
    constraints = {
        int(row[0]): (
            f"{row[1]}.{row[2]}",
            str(row[3]),
            CONSTRAINT_KINDS.get(row[4], str(row[4])),
            bool(row[5]),
        )
        for row in conn.execute(text(CONSTRAINTS))
    }
    return Catalog(relations, constraints)


@dataclass
class StepTrace:
    """What one step did on the copy (see the module)."""

    step: str
    undo: bool
    in_transaction: bool
    locks: list[dict[str, str]] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    leg: str = ""
    transition: str = ""
    confirmed: list[str] = field(default_factory=list)
    refuted: list[str] = field(default_factory=list)
    not_traced: str | None = None  # why the step could not be traced (the tracer failed)
    parents: dict[str, list[str]] = field(default_factory=dict)  # a rewritten partition's

    def as_dict(self) -> dict[str, Any]:
        return {
            "leg": self.leg,
            "transition": self.transition,
            "step": self.step,
            "undo": self.undo,
            "not_traced": self.not_traced,
            "locks_traced": self.in_transaction and self.not_traced is None,
            "locks": self.locks,
            "rewritten": self.rewritten,
            "constraints": self.constraints,
            "indexes": self.indexes,
            "lint": {"confirmed": self.confirmed, "refuted": self.refuted},
        }

    def line(self) -> str:
        """The step as one line: "takes ACCESS EXCLUSIVE on public.profiles; rewrites ..."."""
        if self.not_traced is not None:
            return f"could not be traced ({self.not_traced})"
        parts = []
        if not self.in_transaction:
            parts.append("locks not traced (outside a transaction)")
        elif self.locks:
            by_mode: dict[str, list[str]] = {}  # strongest first, as `locks` are
            for lock in self.locks:
                by_mode.setdefault(lock["mode"], []).append(lock["relation"])
            taken = ", ".join(f"{mode_words(m)} on {' and '.join(r)}" for m, r in by_mode.items())
            parts.append(f"takes {taken}")
        else:
            parts.append("takes no lock on a relation that was there before")
        if self.rewritten:
            parts.append("rewrites " + ", ".join(self.rewritten))
        for c in self.constraints:
            if c["change"] == "validated":
                parts.append(f"validates {c['type']} constraint {c['name']} on {c['relation']}")
            else:
                how = "valid" if c["valid"] else "NOT VALID"
                parts.append(f"adds {c['type']} constraint {c['name']} on {c['relation']} ({how})")
        for i in self.indexes:
            how = "valid" if i["valid"] else "INVALID"
            parts.append(f"builds index {i['index']} on {i['relation']} ({how})")
        if self.confirmed:
            parts.append("lint confirmed: " + ", ".join(self.confirmed))
        if self.refuted:
            parts.append("lint refuted: " + ", ".join(self.refuted))
        return "; ".join(parts)


def mode_words(mode: str) -> str:
    """`AccessExclusiveLock` as people read it: ACCESS EXCLUSIVE."""
    name = mode.removesuffix("Lock")
    words = "".join(f" {c}" if c.isupper() else c for c in name).split()
    return " ".join(words).upper()


def strength(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else -1


class Tracer:
    """The rehearsal's `StepObserver`: a `StepTrace` for every step it watches, in order."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.entries: list[StepTrace] = []
        self._before: Catalog | None = None
        self._locks: list[dict[str, str]] = []
        self._failure: str | None = None

    def _catalog(self) -> Catalog:
        with self.db.connect() as conn, conn.begin():
            return read_catalog(conn)

    def before_step(self, op: Operation) -> None:
        self._before, self._locks, self._failure = None, [], None
        self._before = self._catalog()

    def in_transaction(self, conn: Connection, op: Operation) -> None:
        assert self._before is not None
        relations = self._before.relations
        taken: dict[int, set[str]] = {}
        for oid, mode in conn.execute(text(LOCKS)):
            rel = relations.get(int(oid)) if oid is not None else None
            if rel is None:  # created by the step, or not a user relation
                continue
            if rel.kind in ("i", "I", "S") and strength(mode) <= COMPANION:
                continue
            taken.setdefault(int(oid), set()).add(mode)
        held = [  # every mode held that no other held mode covers
            (oid, mode)
            for oid, modes in taken.items()
            for mode in modes
            if not any(other != mode and covers(other, mode) for other in modes)
        ]
        held.sort(key=lambda x: (-strength(x[1]), relations[x[0]].qualified))
        self._locks = [{"relation": relations[oid].qualified, "mode": mode} for oid, mode in held]

    def failed(self, op: Operation, stage: str, reason: str) -> None:
        """The engine's word that tracing `op` failed at `stage`: its trace says so."""
        if stage == "after_step":
            self.entries.append(self._untraced(op, reason))
        else:
            self._failure = self._failure or reason

    def _untraced(self, op: Operation, reason: str) -> StepTrace:
        self._before = None
        first = (reason.strip().splitlines() or ["an error"])[0]
        return StepTrace(
            op.label, op.action.startswith("undo:"), op.transactional, not_traced=first
        )

    def after_step(self, op: Operation) -> None:
        if self._failure is not None or self._before is None:
            self.entries.append(self._untraced(op, self._failure or "no catalog before it"))
            return
        before, after = self._before, self._catalog()
        entry = StepTrace(op.label, op.action.startswith("undo:"), op.transactional, self._locks)
        _compare(before, after, entry)
        self.entries.append(entry)
        self._before = None


def _compare(before: Catalog, after: Catalog, entry: StepTrace) -> None:
    """What changed from `before` to `after`, laid in `entry`. An index or a constraint
    dropped and made again under the same name (ALTER COLUMN TYPE rebuilds those of the
    column: new oids, same names) is no new one: a rebuilt index is a rewrite (unless its
    table's rewrite says it), a rebuilt constraint is left out (validated when it was NOT
    VALID before). A rewritten partition counts for its partitioned tables too (`parents`)."""
    by_name = {(r.qualified, r.kind): r for r in after.relations.values()}
    rewritten_tables = set()
    for oid, rel in before.relations.items():
        now = after.relations.get(oid)
        if now is None or not rel.filenode or now.filenode == rel.filenode:
            continue
        if rel.kind in ("r", "m"):
            rewritten_tables.add(oid)
            entry.rewritten.append(rel.qualified)
            for parent in rel.ancestors:
                entry.parents.setdefault(rel.qualified, []).append(parent)
    for oid, rel in before.relations.items():
        if rel.kind != "i" or not rel.filenode:
            continue
        now = after.relations.get(oid) or by_name.get((rel.qualified, rel.kind))
        if now is None or now.filenode == rel.filenode:
            continue
        if now.table not in rewritten_tables:
            entry.rewritten.append(rel.qualified)
    was_named = {(c[0], c[1]): c for c in before.constraints.values()}
    for oid, (relation, name, kind, valid) in sorted(after.constraints.items()):
        was = before.constraints.get(oid) or was_named.get((relation, name))
        if was is None:
            entry.constraints.append(
                {"relation": relation, "name": name, "type": kind, "valid": valid,
                 "change": "added"}
            )  # fmt: skip
        elif valid and not was[3]:
            entry.constraints.append(
                {"relation": relation, "name": name, "type": kind, "valid": True,
                 "change": "validated"}
            )  # fmt: skip
    known = {(r.qualified, r.kind) for r in before.relations.values()}
    for oid, rel in sorted(after.relations.items()):
        if rel.kind != "i" or oid in before.relations or rel.table is None:
            continue
        if (rel.qualified, rel.kind) in known:
            continue  # rebuilt under its name: said with the rewrites above
        table = after.relations.get(rel.table)
        entry.indexes.append(
            {"index": rel.qualified, "relation": table.qualified if table else "",
             "valid": rel.valid}
        )  # fmt: skip


# -- lint's predictions, confirmed or refuted -----------------------------------------------


def _name_parts(written: str) -> tuple[str, ...]:
    """A relation's name as written in SQL (`public."Events"`), as its parts."""
    parts, part, quoted, i = [], "", False, 0
    while i < len(written):
        c = written[i]
        if c == '"':
            if quoted and written[i + 1 : i + 2] == '"':
                part += '"'
                i += 1
            else:
                quoted = not quoted
        elif c == "." and not quoted:
            parts.append(part)
            part = ""
        else:
            part += c if quoted else c.lower()
        i += 1
    parts.append(part)
    return tuple(p.strip() for p in parts)


def same_relation(written: str, traced: str) -> bool:
    """Whether a relation as a statement wrote it names the one a trace read (`schema.name`):
    an unqualified name matches that name in any schema."""
    parts = _name_parts(written)
    schema, _, name = traced.partition(".")
    return parts == (schema, name) if len(parts) > 1 else parts[0] == name


def verdict(finding: LintFinding, entry: StepTrace) -> bool | None:
    """Whether the trace of its step confirms (True) or refutes (False) what `finding`
    predicts; None when it cannot tell (no prediction, or locks not traced)."""
    if finding.trace is None or entry.not_traced is not None:
        return None
    relation, what = finding.trace
    if what == "rewrite":  # the table, or a partition of it
        return any(
            same_relation(relation, r)
            or any(same_relation(relation, p) for p in entry.parents.get(r, ()))
            for r in entry.rewritten
        )
    if not entry.in_transaction:
        return None
    return any(
        same_relation(relation, lock["relation"]) and covers(lock["mode"], what)
        for lock in entry.locks
    )


def judge(entry: StepTrace, findings: list[LintFinding]) -> None:
    """Mark the rules of `findings` (a step's lint) confirmed or refuted by `entry`: a rule
    is confirmed when the trace shows one of its predictions, refuted when it shows none."""
    confirmed: list[str] = []
    refuted: list[str] = []
    for finding in findings:
        seen = verdict(finding, entry)
        if seen is True and finding.rule not in confirmed:
            confirmed.append(finding.rule)
        elif seen is False and finding.rule not in refuted:
            refuted.append(finding.rule)
    entry.confirmed = confirmed
    entry.refuted = [rule for rule in refuted if rule not in confirmed]
