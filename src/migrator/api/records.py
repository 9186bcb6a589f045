"""The commands that read: status, history, graph, report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from migrator.api.context import Context
from migrator.api.session import open_session
from migrator.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from migrator.masking import Secrets
    from migrator.plan import Plan
    from migrator.views.console import Reporter


def status(
    ctx: Context,
    plan_path: str | Path | None = None,
    *,
    watch: bool = False,
    interval: float = 1.0,
) -> ExitCode:
    """The current phase, the lock holder, the run in progress or interrupted (what it
    does now: its step, a backfill's rows, rate and time left, a pause, a lock wait; how
    far an interrupted one got and what settles it), the last runs.

    Without `plan_path`: every plan the database knows, its phase and any open run.
    `watch`: again every `interval` seconds until no run is at work (exit 0), Ctrl-C 130.
    """
    from migrator.views import status as views

    if plan_path is None:
        with _database(ctx) as (db, secrets, reporter):
            return _status(
                ctx,
                lambda: views.all_status(db),
                views.all_view,
                db,
                secrets,
                reporter,
                watch,
                interval,
            )
    with open_session(ctx, plan_path) as session:
        plan = session.plan
        return _status(
            ctx,
            lambda: views.plan_status(session.db, plan),
            views.status_view,
            session.db,
            session.secrets,
            session.reporter,
            watch,
            interval,
        )


def _status(
    ctx: Context,
    build: Callable[[], dict[str, Any]],
    view: Callable[[dict[str, Any]], Any],
    db: Engine,
    secrets: Secrets,
    reporter: Reporter,
    watch: bool,
    interval: float,
) -> ExitCode:
    from migrator.views.values import plain

    def masked() -> dict[str, Any]:
        document: dict[str, Any] = secrets.mask_data(build())
        return document

    if watch:
        from migrator.views.watch import watch as watching

        return watching(
            masked,
            view,
            lambda ids: [secrets.mask(line) for line in _ended(db, ids)],
            console=reporter.console,
            out=ctx.out,
            as_json=ctx.output == "json",
            interval=interval,
            mask=secrets.mask,
        )
    document = masked()
    if ctx.output == "json":
        ctx.emit_json(plain(document))
    else:
        reporter.console.print(view(document), soft_wrap=False)
    return ExitCode.OK


def _ended(db: Engine, ids: list[int]) -> list[str]:
    """How each of these runs ended, and the phase its plan is in now."""
    from migrator import state
    from migrator.state.live import plan_file

    lines = []
    with db.connect() as conn, conn.begin() as tx:
        for run_id in ids:
            run = state.get_run(conn, run_id)
            if run is None:
                continue
            phase = state.current_phase(conn, run.plan, run.from_phase)
            name = f"run {run.id} ({run.transition}: {run.from_phase} -> {run.to_phase})"
            if run.status in state.FINAL_STATUSES:
                lines.append(f"{name} ended {run.status}; plan {run.plan} is in phase {phase}")
                continue
            shown = "interrupted" if run.status != state.RunStatus.UNDO_FAILED else run.status
            file = plan_file(conn, run.id) or "PLAN_FILE"
            lines.append(
                f"{name} stopped {shown} (recorded as {run.status}); plan {run.plan} is in "
                f"phase {phase}; `migrator resume {file}` or `migrator rollback {file}` "
                "settles it"
            )
        tx.rollback()
    return lines


@contextmanager
def _database(ctx: Context) -> Iterator[tuple[Engine, Secrets, Reporter]]:
    """The target database without a plan: its engine, its secrets, the reporter."""
    from migrator.db.target import connect_engine, resolve_target
    from migrator.masking import Secrets
    from migrator.views.console import Reporter

    secrets = Secrets()
    reporter = Reporter(ctx.out, ctx.err, output=ctx.output, secrets=secrets)
    target = resolve_target(ctx.dsn, announce=lambda line: reporter.say(line, style="dim"))
    for secret in target.secrets():
        secrets.add(secret)
    db = connect_engine(target)
    try:
        yield db, secrets, reporter
    finally:
        db.dispose()


def history(ctx: Context, plan_path: str | Path, verify: bool = False) -> ExitCode:
    """Every run of the plan and every event of each run: the audit trail.

    `verify`: verify each run's hash chain too, and report every broken link; exit 2
    when any trail was edited, 0 when all are intact (or unchained: older than the chain).
    """
    from migrator.views.history import plan_history, render_history

    if not verify:
        return _show(ctx, plan_path, plan_history, render_history)
    intact: list[bool] = []

    def build(db: Engine, plan: Plan) -> dict[str, Any]:
        document = plan_history(db, plan, verify=True)
        intact.append(document["intact"])
        return document

    _show(ctx, plan_path, build, render_history)
    return ExitCode.OK if all(intact) else ExitCode.INVALID


def graph(ctx: Context, plan_path: str | Path) -> ExitCode:
    """The plan's phases and transitions as a Mermaid state diagram.

    The phase the plan is in is highlighted when a database is named (`ctx.dsn`, else
    $MIGRATOR_DSN, $MIGRATOR_DSN_FILE, else $DATABASE_URL) and can be reached; it is only
    read. Without one, the embedded PostgreSQL is not started just for a diagram; an
    unreachable one is said on stderr, and the diagram comes without a current phase
    (exit 0).
    """
    from migrator import state
    from migrator.db.target import Target, connect_engine, named_dsn
    from migrator.errors import DatabaseUnreachable
    from migrator.plan import load_plan
    from migrator.views.diagram import mermaid

    plan = load_plan(plan_path, ctx.plugins())
    named = named_dsn(ctx.dsn)
    phase = None
    if named:
        try:
            db = connect_engine(Target(named, "--dsn"))
        except DatabaseUnreachable as error:
            print(f"note: {error.message}; the diagram shows no current phase", file=ctx.err)
        else:
            try:
                with db.connect() as conn, conn.begin() as tx:
                    phase = state.current_phase(conn, plan.name, plan.initial_phase)
                    tx.rollback()
            finally:
                db.dispose()
    diagram = mermaid(plan, current=phase)
    if ctx.output == "json":
        ctx.emit_json({"plan": plan.name, "phase": phase, "mermaid": diagram})
    else:
        ctx.out.write(diagram)
    return ExitCode.OK


ReportFormat = Literal["markdown", "html", "json"]


def report(ctx: Context, run_id: int, form: ReportFormat | None = None) -> ExitCode:
    """One run's evidence, failures first: what failed, what was undone, the checks'
    actual against expected, approvals, steps, the timeline.

    `form`: Markdown (rendered by rich when `ctx.out` is a terminal), a standalone HTML
    page with the plan's phase diagram, or JSON; None: JSON for `ctx.output` json, else
    Markdown. Reads schema `migrator` only. Exit 2 when the database holds no run
    `run_id`.
    """
    from migrator.db.target import connect_engine, resolve_target
    from migrator.masking import Secrets
    from migrator.views.markdown import write
    from migrator.views.report import load_records
    from migrator.views.report import report as build_report
    from migrator.views.report_html import report_page
    from migrator.views.report_markdown import markdown

    form = form or ("json" if ctx.output == "json" else "markdown")
    target = resolve_target(ctx.dsn, announce=lambda line: print(line, file=ctx.err))
    secrets = Secrets()
    for secret in target.secrets():
        secrets.add(secret)
    db = connect_engine(target)
    try:
        with db.connect() as conn, conn.begin() as tx:
            records = load_records(conn, run_id)
            tx.rollback()
    finally:
        db.dispose()
    if records is None:
        raise UsageError(
            f"no run {run_id} in this database: `migrator history PLAN` lists a plan's runs"
        )
    document = secrets.mask_data(build_report(records))
    if form == "json":
        ctx.emit_json(document)
    elif form == "html":
        ctx.out.write(secrets.mask(report_page(document)))
    else:
        write(secrets.mask(markdown(document)), ctx.out)
    return ExitCode.OK


def _show(
    ctx: Context,
    plan_path: str | Path,
    build: Callable[[Engine, Plan], dict[str, Any]],
    render: Callable[[dict[str, Any], Reporter], None],
) -> ExitCode:
    """Read a document about the plan (never writing) and show it, as text or JSON."""
    with open_session(ctx, plan_path) as session:
        document = build(session.db, session.plan)
        if ctx.output == "json":
            ctx.emit_json(session.secrets.mask_data(document))
        else:
            render(document, session.reporter)
    return ExitCode.OK
