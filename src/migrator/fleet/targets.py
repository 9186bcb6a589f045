"""A fleet's targets, resolved: from the file's list, a targets file, or a query on a
control database; `${env:NAME}` in their DSNs read (and masked from then on); each target
placed in the first wave that matches it."""

from __future__ import annotations

import contextlib
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from migrator.errors import PlanError, UsageError
from migrator.fleet.model import (
    Fleet,
    Match,
    TargetFile,
    TargetQuery,
    TargetSpec,
    WaveSpec,
    duplicates,
    name_problem,
    read_yaml,
    validation_problems,
)
from migrator.masking import Secrets
from migrator.plan.interpolate import InterpolationError, interpolate


@dataclass(frozen=True)
class FleetTarget:
    """One database of the fleet: its name, its DSN (a secret: never shown, never put on a
    command line), its group and vars, and the wave it is in."""

    name: str
    dsn: str = field(repr=False)
    group: str | None
    vars: dict[str, str]
    wave: str

    @property
    def shown_dsn(self) -> str:
        """The DSN as it may be shown: without its password."""
        from migrator.db.target import redact

        return redact(self.dsn)


def resolve_targets(fleet: Fleet, secrets: Secrets) -> list[FleetTarget]:
    """Every target of the fleet, in the order its waves take them (then file order); a
    target no wave matches is an error, as are two of the same name."""
    specs = _specs(fleet, secrets)
    # `${env:NAME}` is read in what the operator wrote (the fleet file, a targets file), never
    # in a DSN a control database returned: its rows would otherwise choose which of the
    # operator's environment variables to send to a host of their choosing.
    written = not isinstance(fleet.spec.targets, TargetQuery)
    targets: list[FleetTarget] = []
    for spec in specs:
        dsn = read_dsn(fleet, spec.dsn, secrets, f"target {spec.name}", environment=written)
        wave = wave_of(fleet.waves, spec.name, spec.group)
        if wave is None:
            raise UsageError(
                f"target {spec.name} (group {spec.group or 'none'}) matches no wave of fleet "
                f"{fleet.name}: add a last wave without match to take every other target"
            )
        targets.append(FleetTarget(spec.name, dsn, spec.group, dict(spec.vars), wave.name))
    order = {wave.name: index for index, wave in enumerate(fleet.waves)}
    return sorted(targets, key=lambda t: order[t.wave])  # stable: file order within a wave


def in_waves(fleet: Fleet, targets: list[FleetTarget]) -> list[tuple[WaveSpec, list[FleetTarget]]]:
    """The waves in order, each with its targets (a wave none matches has none)."""
    return [(wave, [t for t in targets if t.wave == wave.name]) for wave in fleet.waves]


def wave_of(waves: list[WaveSpec], name: str, group: str | None) -> WaveSpec | None:
    """The first wave whose `match` takes the target (a wave without one takes all)."""
    for wave in waves:
        if wave.match is None or _matches(wave.match, name, group):
            return wave
    return None


def _matches(match: Match, name: str, group: str | None) -> bool:
    def any_of(patterns: str | list[str] | None, value: str | None) -> bool:
        if patterns is None:
            return True
        if value is None:
            return False
        listed = [patterns] if isinstance(patterns, str) else patterns
        return any(fnmatch.fnmatchcase(value, pattern) for pattern in listed)

    return any_of(match.group, group) and any_of(match.name, name)


def read_dsn(
    fleet: Fleet, raw: str, secrets: Secrets, whose: str, *, environment: bool = True
) -> str:
    """A DSN with `${env:NAME}` read (unless not `environment`: taken as it is); the whole
    of what came from the environment, and the password, masked from now on."""
    from migrator.db.target import Target, dsn_problem, redact

    dsn = raw
    try:
        if environment:
            dsn = interpolate(raw, {}, None)
    except InterpolationError as exc:
        raise UsageError(f"the DSN of {whose} in {fleet.file}: {exc}") from None
    if dsn != raw:
        secrets.add(dsn)
        # as a `migrator` command shows it (its own redacted rewrite): masked whole too, or
        # the rest of it (a query's options, a token) would show around the password's ***
        shown = redact(dsn)
        if dsn_problem(dsn) is None and shown != dsn:
            secrets.add(shown)
    for secret in Target(dsn, whose).secrets():
        secrets.add(secret)
    return dsn


def _specs(fleet: Fleet, secrets: Secrets) -> list[TargetSpec]:
    source = fleet.spec.targets
    if isinstance(source, list):
        return source
    if isinstance(source, TargetFile):
        return _from_file(fleet, source)
    return _from_query(fleet, source, secrets)


_SPECS: TypeAdapter[list[TargetSpec]] = TypeAdapter(list[TargetSpec])


def _from_file(fleet: Fleet, source: TargetFile) -> list[TargetSpec]:
    path = Path(source.file)
    if not path.is_absolute():
        path = fleet.file.parent / path
    document = read_yaml(path, "targets file")
    try:
        specs = _SPECS.validate_python(document.data)
    except ValidationError as exc:
        raise PlanError(validation_problems(exc, document)) from None
    duplicates(document, [s.name for s in specs], ())
    return specs


def _from_query(fleet: Fleet, source: TargetQuery, secrets: Secrets) -> list[TargetSpec]:
    """Rows of `name, dsn[, group][, vars]` read in a READ ONLY transaction of the control
    database (a statement timeout of 30 s); a bad row named by its number."""
    import psycopg
    from psycopg.rows import dict_row

    from migrator.db.target import Target, application_name, scrub
    from migrator.errors import DatabaseUnreachable

    _one_statement(fleet, source.query)
    dsn = read_dsn(fleet, source.dsn, secrets, "the targets query")
    control = Target(dsn, "the targets query's dsn")
    try:
        with psycopg.connect(
            dsn, connect_timeout=10, application_name=application_name(), autocommit=False
        ) as conn:
            conn.execute("set transaction read only")
            conn.execute("set local statement_timeout = '30s'")
            with conn.cursor(row_factory=dict_row) as cursor:
                # the fleet file's own SQL, by the extended protocol (prepared): the server
                # refuses a second command there, which could end the read-only transaction
                rows = cursor.execute(source.query, prepare=True).fetchall()
            conn.rollback()
    except psycopg.Error as exc:
        # A query canceled (its 30 s ran out) is an OperationalError too, but the database
        # answered: the query failed, the database is not unreachable.
        if isinstance(exc, psycopg.OperationalError) and not isinstance(
            exc, psycopg.errors.QueryCanceled
        ):
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else "connection failed"
            raise DatabaseUnreachable(control.shown, scrub(reason, control)) from None
        where = fleet.source.position(("targets", "query"))
        reason = scrub(" ".join(str(exc).split()), control)
        raise UsageError(
            f"{fleet.file}:{where.line}:{where.column}: the targets query failed: {reason}"
        ) from None
    specs: list[TargetSpec] = []
    for number, row in enumerate(rows, 1):
        specs.append(_row_spec(fleet, number, row, secrets))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"the targets query returned two targets named {twice[0]}")
    return specs


def _one_statement(fleet: Fleet, query: str) -> None:
    """UsageError (exit 2) at the second statement of a targets query that has several: a
    `commit` in it would end the read-only transaction and its 30 s limit."""
    from migrator.db.sqltext import split, statements

    offset = 0
    seen = 0
    for piece in split(query):
        if statements(piece):
            seen += 1
            if seen == 2:
                start = offset + len(piece) - len(piece.lstrip())
                where = fleet.source.position_in(("targets", "query"), start)
                raise UsageError(
                    f"{fleet.file}:{where.line}:{where.column}: the targets query is one "
                    "statement (a SELECT); a second one starts here"
                )
        offset += len(piece)


def _row_spec(fleet: Fleet, number: int, row: dict[str, Any], secrets: Secrets) -> TargetSpec:
    if "name" not in row or "dsn" not in row:
        raise UsageError(
            f"the targets query of {fleet.file} returns name and dsn (and group, vars); "
            f"it returned {', '.join(row) or 'no columns'}"
        )
    if isinstance(row.get("dsn"), str):
        secrets.add(row["dsn"])  # a DSN read from a database is a secret whole
    values = {k: row[k] for k in ("name", "dsn", "group", "vars") if row.get(k) is not None}
    if isinstance(values.get("vars"), str):
        with contextlib.suppress(ValueError):
            values["vars"] = json.loads(values["vars"])
    try:
        return TargetSpec.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        column = ".".join(str(p) for p in first["loc"]) or "row"
        message = name_problem(None) if first["type"] == "string_pattern_mismatch" else first["msg"]
        raise UsageError(
            f"row {number} of the targets query of {fleet.file}: {column}: {message}"
        ) from None
