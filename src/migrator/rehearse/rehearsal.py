"""`migrator rehearse PLAN`: every transition forward, back and forward again, on a scratch copy.

The target's schema (and optionally a sample of its data) is copied into a new
database on the scratch server (the embedded PostgreSQL by default); the target is
only read. On the copy, the plan is walked from the phase the target is in: for each
transition, forward, back (its reverse transition, or the undo of its steps, as
`migrator rollback` would) and forward again, comparing catalog snapshots
(`catalog`) around each leg:

- after the way back, the schema and flags must be as they were before the forward;
- after the forward again, as they were after the first forward.

A difference is reported against the steps of the transition that touched the object
(those whose configuration names it, else all of the steps the run completed), and the
rehearsal exits 1. So does a leg that fails on the copy (a check, a step, an undo).
A transition that completed a step marked `rollback: irreversible`, whose way back is
the undo of its steps, goes forward only: irreversible by design, not a failure.

Every step of every leg is traced (`trace`): the locks it took, the relations it
rewrote, the constraints and indexes it made, and the plan's lint findings it confirmed
or refuted.

Steps and checks that reach outside the database (`http`, `command`) are not called
on a rehearsal, and flags kept outside the database (a flag file) are read from their
real store but written only in memory: a rehearsal changes nothing but its scratch
database (see `standins`). The round trips themselves are `roundtrip`; this module
prepares the scratch copy (`scratch`) and walks; `summary` reports.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.db.failures import error_text
from migrator.engine.environment import RunEnvironment, RunOptions
from migrator.engine.stopping import StopRequest, StopRequested
from migrator.errors import ExitCode, RunStopped
from migrator.nested import strings_in
from migrator.plan.model import Plan
from migrator.rehearse.roundtrip import Walk, Walker
from migrator.rehearse.scratch import ScratchDatabase
from migrator.rehearse.standins import (
    FlagOverlay,
    once_each,
    rehearsal_registry,
    standing_in,
    stood_in,
)
from migrator.rehearse.summary import (
    Prepared,
    SampleRows,
    document,
    render,
    render_preparation,
)
from migrator.rehearse.versions import ScratchError
from migrator.state import ensure_schema
from migrator.state.seed import Seed, read_seed, write_seed

if TYPE_CHECKING:
    from migrator.api.context import Context
    from migrator.db.target import Target
    from migrator.rehearse.versions import Versions
    from migrator.views.console import Reporter

# -- the command --------------------------------------------------------------------------


def rehearse(
    ctx: Context,
    plan_path: str | Path,
    *,
    sample: str | None = None,
    sample_sql: str | Path | None = None,
    keep: bool = False,
    scratch_dsn: str | None = None,
    pg_dump: str | None = None,
) -> ExitCode:
    """Walk every transition forward, back and forward again on a scratch copy of the target.

    Exit 1 when an undo does not restore what its transition changed (or a leg fails).
    `sample`: `N` rows or `P%` of each table's data (default: the schema only);
    `sample_sql`: a file of SQL (sample rows of the operator's own, never production's)
    run on the copy after its schema and sample. See the module for how.
    """
    from migrator.db.sessions import require_pinned
    from migrator.db.target import connect_engine, resolve_target
    from migrator.masking import Secrets
    from migrator.plan import load_plan
    from migrator.rehearse.scratch import Sample, create_database, drop_database
    from migrator.views.console import Reporter

    plan = load_plan(plan_path, ctx.plugins())
    amount = Sample.parse(sample) if sample else None
    rows = SampleRows.read(sample_sql) if sample_sql is not None else None
    secrets = Secrets()
    reporter = Reporter(ctx.out, ctx.err, output=ctx.output, secrets=secrets)

    def announce(line: str) -> None:
        reporter.say(line, style="dim")

    target = resolve_target(ctx.dsn, announce=announce)
    for secret in target.secrets():
        secrets.add(secret)
    engine = connect_engine(target)  # exit 5 now if the target cannot be reached
    try:  # pg_dump's session settings would not hold through a pooler in transaction mode
        require_pinned(engine)
    finally:
        engine.dispose()
    with _plainly(secrets):  # nothing is made before the versions are known to fit
        server, versions = _servers(target, scratch_dsn, pg_dump, secrets, announce)
        scratch = create_database(server.dsn, plan.name)
    stop = StopRequest()
    try:  # from here on, the scratch database is dropped whatever happens (--keep aside)
        with stop.handling():  # SIGINT, SIGTERM: the rehearsal stops, nothing left to settle
            reporter.say(
                f"rehearsing plan {plan.name} on a scratch copy of {target.shown}: "
                f"database {scratch.name} on {server.shown}"
            )
            with _plainly(secrets):
                samples = (amount, rows)
                prepared = _prepare(target, versions, scratch, plan, samples, secrets, reporter)
                walk = _walk(ctx, plan, scratch, prepared.start, secrets, stop)
            stop.check("the rehearsal was done")
    except (RunStopped, StopRequested, KeyboardInterrupt):
        _finish_scratch(scratch, keep, None, drop_database)
        if not stop.requested():  # a Ctrl-C outside the engine's handlers
            stop.request()
        raise _stopped(stop, plan, scratch, keep) from None
    except BaseException:
        _finish_scratch(scratch, keep, reporter, drop_database)
        raise
    not_called = stood_in(plan, ctx.plugins())
    instead = standing_in(plan, ctx.plugins())
    code = ExitCode.OK
    if not all(t.passes for t in walk.trips):
        code = ExitCode.CHECK_FAILED
    if ctx.output == "json":
        _finish_scratch(scratch, keep, None, drop_database)
        ctx.emit_json(
            secrets.mask_data(
                document(
                    plan,
                    target,
                    server,
                    scratch,
                    prepared,
                    amount,
                    walk,
                    code,
                    keep,
                    not_called,
                    instead,
                )
            )
        )
    else:
        try:  # output that cannot be written (`| head -1`) leaves no scratch database behind
            render_preparation(prepared, scratch, amount, reporter)
            render(plan, walk, not_called, reporter, instead)
        except BaseException:
            _finish_scratch(scratch, keep, None, drop_database)
            raise
        _finish_scratch(scratch, keep, reporter, drop_database)
    return code


def _stopped(stop: StopRequest, plan: Plan, scratch: ScratchDatabase, keep: bool) -> RunStopped:
    """What a rehearsal stopped by SIGINT or SIGTERM says: it ran on its scratch database
    alone, so there is no run to resume or roll back (the engine's advice, followed with
    the target's DSN, would act on the target)."""
    left = (
        f"its scratch database {scratch.name} is kept (--keep): drop it when done"
        if keep
        else f"its scratch database {scratch.name} was dropped"
    )
    return RunStopped(
        f"{stop.name}: the rehearsal of plan {plan.name} was stopped; {left}; the target was "
        "only read: nothing is left to settle",
        stop.exit_code,
    )


@contextmanager
def _plainly(secrets: Any) -> Iterator[None]:
    """A database error while preparing or walking: one masked line, exit 2."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (psycopg.Error, DBAPIError) as exc:
        first = (error_text(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ScratchError(f"the rehearsal stopped: {secrets.mask(first)}") from None


def _finish_scratch(
    scratch: ScratchDatabase,
    keep: bool,
    reporter: Reporter | None,
    drop: Callable[[ScratchDatabase], None],
) -> None:
    if keep:
        if reporter is not None:
            reporter.say(f"the scratch database {scratch.name} is kept (--keep)")
        return
    drop(scratch)


def _servers(
    target: Target,
    scratch_dsn: str | None,
    pg_dump_path: str | None,
    secrets: Any,
    announce: Callable[[str], None],
) -> tuple[Target, Versions]:
    """The scratch server (the embedded one, started only once the versions fit) and the
    versions of all that makes the copy, checked to fit (`versions.check`)."""
    import psycopg

    from migrator.db.target import EMBEDDED_DIR, Target, connect_engine, embedded_dsn
    from migrator.rehearse.scratch import read_only
    from migrator.rehearse.versions import choose, embedded_server, server_of

    with read_only(target.dsn) as conn, conn.transaction():
        target_server = server_of(conn, target.shown)
    if scratch_dsn:
        server = Target(scratch_dsn, "--scratch-dsn")
        for secret in server.secrets():
            secrets.add(secret)
        connect_engine(server).dispose()  # exit 5 now if it cannot be reached
        with psycopg.connect(server.dsn, autocommit=True, connect_timeout=10) as conn:
            versions = choose(target_server, server_of(conn, server.shown), pg_dump_path)
        return server, versions
    versions = choose(target_server, embedded_server(), pg_dump_path)
    server = Target(embedded_dsn(Path.cwd() / EMBEDDED_DIR, announce), "embedded")
    for secret in server.secrets():
        secrets.add(secret)
    return server, versions


def _prepare(
    target: Any,
    versions: Versions,
    scratch: ScratchDatabase,
    plan: Plan,
    samples: tuple[Any, SampleRows | None],
    secrets: Any,
    reporter: Reporter,
) -> Prepared:
    """Copy the schema, the roles it needs, the flags and a sample of the data (copied,
    then the operator's sample rows); the phase to start in."""
    from migrator.rehearse.scratch import (
        copy_sample,
        create_missing_roles,
        dump_schema,
        read_only,
        referenced_roles,
        restore,
    )
    from migrator.rehearse.versions import newer_scratch_note

    amount, rows = samples
    prepared = Prepared(versions, plan.initial_phase, sample_rows=rows)
    note = newer_scratch_note(versions.target, versions.scratch)
    if note is not None:
        prepared.notes.append(note)
    with read_only(target.dsn) as source:
        roles = referenced_roles(source)
        scratch.roles_created = create_missing_roles(scratch.admin_dsn, roles)
        if scratch.roles_created:
            reporter.say(
                "created roles on the scratch server (NOLOGIN), which the schema names: "
                + ", ".join(scratch.roles_created)
            )
        schema_sql = dump_schema(versions.pg_dump, target.dsn, secrets.mask)
        restore(versions.psql, scratch.dsn, schema_sql, secrets.mask)
        if amount is not None:
            scratch.rows_copied = copy_sample(source, scratch.dsn, amount)
        if rows is not None:
            failure = f"the sample rows of {rows.path} could not be loaded in the scratch database"
            restore(versions.psql, scratch.dsn, rows.text, secrets.mask, failure)
        seed = read_seed(source, plan.name)
    for name, value, _ in seed.flags:  # a flag set from a secret: masked in all it shows
        if name in seed.secret:
            for _, piece in strings_in(json.loads(value)):
                secrets.add(piece)
    prepared.start = _seed(scratch, plan, seed, prepared.notes)
    return prepared


def _seed(scratch: ScratchDatabase, plan: Plan, seed: Seed, notes: list[str]) -> str:
    """Give the scratch database the target's flags and phase; the phase the walk starts in."""
    import psycopg

    from migrator.db.target import Target, connect_engine

    phase = seed.phase
    start = plan.initial_phase
    if phase is not None and phase != start:
        if plan.kind == "hotfix":
            notes.append(
                f"the target has this hotfix {phase}: the rehearsal applies it again on the copy"
            )
        elif phase not in plan.phases:
            notes.append(f"the target is in phase '{phase}', which the plan does not have")
        else:
            start = phase
    engine = connect_engine(Target(scratch.dsn, "scratch"))
    try:
        with engine.connect() as conn:
            ensure_schema(conn)
    finally:
        engine.dispose()
    with psycopg.connect(scratch.dsn) as pg, pg.transaction():
        write_seed(pg, plan.name, seed, start if start != plan.initial_phase else None)
    return start


def _walk(
    ctx: Context, plan: Plan, scratch: ScratchDatabase, start: str, secrets: Any, stop: StopRequest
) -> Walk:
    from migrator.db.target import Target, connect_engine
    from migrator.lint.runner import findings_by_step
    from migrator.plan.variables import resolve_variables
    from migrator.rehearse.trace import Tracer
    from migrator.views.console import Reporter

    pm = ctx.manager()
    overlay = FlagOverlay(pm)
    pm.register(overlay, name="migrator-rehearsal-flags")
    log = io.StringIO()
    engine = connect_engine(Target(scratch.dsn, "scratch"))
    tracer = Tracer(engine)
    try:
        env = RunEnvironment(
            db=engine,
            plan=once_each(plan),
            registry=rehearsal_registry(ctx.plugins()),
            hooks=pm.hook,
            reporter=Reporter(log, log, output="text", secrets=secrets),
            options=RunOptions(
                operator=ctx.operator,
                variables=resolve_variables(plan, ctx.variables),
                assume_yes=True,
            ),
            secrets=secrets,
            stop=stop,
            observer=tracer,
        )
        walker = Walker(env)
        walk = Walk(walker, overlay, log, tracer, findings_by_step(plan, ctx.plugins()))
        walk.walk(start)
        return walk
    finally:
        engine.dispose()
        pm.unregister(overlay)
