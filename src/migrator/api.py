"""The library behind the command line: one typed function per command.

Each takes a `Context` first (where output goes, which database, who operates)
and returns an exit code; errors are raised as `MigratorError`s. The CLI only
parses arguments, calls these, and turns errors into one line and an exit code.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from migrator.errors import ExitCode, Problem, UsageError
from migrator.plugin.registry import Registry

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from migrator.db.target import Target
    from migrator.engine.environment import RunEnvironment
    from migrator.engine.runner import Runner
    from migrator.masking import Secrets
    from migrator.plan import Plan
    from migrator.plugin.manager import PluginManager
    from migrator.views.console import Reporter

OutputFormat = Literal["text", "json"]


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a bare container)
        return "unknown"


@dataclass
class Context:
    """Where output goes and whom the run is for; shared by every command."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    output: OutputFormat = "text"
    dsn: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    operator: str = field(default_factory=_default_operator)
    assume_yes: bool = False
    force: bool = False
    log_format: Literal["text", "json"] | None = None
    interactive: bool = False
    confirm: Callable[[str], bool] = field(default=lambda question: False)
    registry: Registry | None = None
    plugin_manager: PluginManager | None = None

    def plugins(self) -> Registry:
        if self.registry is None:
            self.registry = self.manager().build_registry()
        return self.registry

    def manager(self) -> PluginManager:
        if self.plugin_manager is None:
            from migrator.plugin.manager import get_plugin_manager

            self.plugin_manager = get_plugin_manager()
        return self.plugin_manager

    def emit_json(self, document: Any) -> None:
        json.dump(document, self.out, indent=2, default=str)
        self.out.write("\n")

    def say(self, line: str) -> None:
        """A line for a person: on stdout for text output, on stderr beside JSON."""
        print(line, file=self.err if self.output == "json" else self.out)


def validate(ctx: Context, paths: Sequence[str | Path]) -> ExitCode:
    """Load and lint plans; print every problem with file:line:column; change nothing."""
    from migrator.plan import check_plan

    registry = ctx.plugins()
    results: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for path in paths:
        plan, found = check_plan(path, registry)
        problems += found
        errors = sum(p.severity == "error" for p in found)
        results.append(
            {
                "file": str(path),
                "plan": plan.name if plan else None,
                "valid": errors == 0,
                "errors": errors,
                "warnings": len(found) - errors,
            }
        )
    failed = any(p.severity == "error" for p in problems)
    if ctx.output == "json":
        ctx.emit_json(
            {"valid": not failed, "plans": results, "problems": [p.as_dict() for p in problems]}
        )
    else:
        for problem in problems:
            print(problem, file=ctx.out)
        for r in results:
            verdict = "valid" if r["valid"] else "INVALID"
            name = f" (plan {r['plan']})" if r["plan"] else ""
            counts = f"{r['errors']} error(s), {r['warnings']} warning(s)"
            print(f"{r['file']}{name}: {verdict}, {counts}", file=ctx.out)
    return ExitCode.INVALID if failed else ExitCode.OK


def schema(ctx: Context) -> ExitCode:
    """Print the JSON Schema of the plan format, as the loaded plugins define it."""
    from migrator.plan.model import plan_models

    ctx.emit_json(plan_models(ctx.plugins()).json_schema())
    return ExitCode.OK


def plugins(ctx: Context) -> ExitCode:
    """List the loaded plugins, their versions, and the keys each provides."""
    from migrator.plugin.manager import get_plugin_manager

    pm = get_plugin_manager()
    registry = pm.build_registry()
    ctx.registry = registry
    keys = registry.keys_by_plugin()
    rows = [
        {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "actions": [
                k.split(":", 1)[1] for k in keys.get(info.name, []) if k.startswith("action:")
            ],
            "checks": [
                k.split(":", 1)[1] for k in keys.get(info.name, []) if k.startswith("check:")
            ],
        }
        for info in sorted(pm.infos.values(), key=lambda i: i.name)
    ]
    if ctx.output == "json":
        ctx.emit_json({"plugins": rows})
        return ExitCode.OK
    for row in rows:
        print(f"{row['name']} ({row['distribution']} {row['version']})", file=ctx.out)
        if row["actions"]:
            print(f"  actions: {', '.join(row['actions'])}", file=ctx.out)
        if row["checks"]:
            print(f"  checks:  {', '.join(row['checks'])}", file=ctx.out)
    return ExitCode.OK


DocsFormat = Literal["markdown", "html", "json"]
DOCS_SUFFIX: dict[str, str] = {"markdown": ".md", "html": ".html", "json": ".json"}


def docs(
    ctx: Context,
    plan_paths: Sequence[str | Path],
    *,
    form: DocsFormat = "markdown",
    out_dir: str | Path | None = None,
) -> ExitCode:
    """Render plans as runbooks (Markdown, a standalone HTML page, or JSON); no database.

    Without `out_dir`, the one plan's runbook goes to `ctx.out`. With it, each plan is
    written to `out_dir/<plan>.md` (`.html`, `.json`) and its diagram to
    `out_dir/<plan>.mmd`, and every file written is named on a line.
    """
    from migrator.plan import load_plan
    from migrator.views.runbook import runbook
    from migrator.views.runbook_html import html_page
    from migrator.views.runbook_markdown import markdown

    if out_dir is None and len(plan_paths) != 1:
        raise UsageError("give one PLAN, or --out DIR to write a runbook for each")
    registry = ctx.plugins()
    plans = [load_plan(path, registry) for path in plan_paths]
    rendered: list[tuple[str, str, str]] = []  # (plan, runbook text, diagram)
    for plan in plans:
        document = runbook(plan, registry)
        if form == "json":
            text = json.dumps(document, indent=2, default=str) + "\n"
        elif form == "html":
            text = html_page(markdown(document), f"Runbook: {plan.name}")
        else:
            text = markdown(document)
        rendered.append((plan.name, text, document["diagram"]))
    if out_dir is None:
        ctx.out.write(rendered[0][1])
        return ExitCode.OK
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text, diagram in rendered:
        for path, content in (
            (folder / f"{name}{DOCS_SUFFIX[form]}", text),
            (folder / f"{name}.mmd", diagram),
        ):
            path.write_text(content, encoding="utf-8")
            ctx.say(f"wrote {path}")
    return ExitCode.OK


# -- commands on a database ---------------------------------------------------------------


@dataclass
class Session:
    """A plan opened on its database, with who sees what."""

    plan: Plan
    target: Target
    db: Engine
    secrets: Secrets
    reporter: Reporter

    def runner(
        self, ctx: Context, skip: dict[str, str] | None = None, batch_size: int | None = None
    ) -> Runner:
        from migrator.engine.runner import Runner

        return Runner(self.environment(ctx, skip, batch_size))

    def environment(
        self, ctx: Context, skip: dict[str, str] | None = None, batch_size: int | None = None
    ) -> RunEnvironment:
        """What a run of this plan is given: its database, plugins, reporter, options."""
        from migrator.engine.environment import RunEnvironment, RunOptions
        from migrator.plan.variables import resolve_variables

        options = RunOptions(
            operator=ctx.operator,
            variables=resolve_variables(self.plan, ctx.variables),
            assume_yes=ctx.assume_yes,
            interactive=ctx.interactive,
            force=ctx.force,
            skip=dict(skip or {}),
            confirm=ctx.confirm,
            batch_size=batch_size,
        )
        return RunEnvironment(
            db=self.db,
            plan=self.plan,
            registry=ctx.plugins(),
            hooks=ctx.manager().hook,
            reporter=self.reporter,
            options=options,
            secrets=self.secrets,
        )


@contextmanager
def open_session(ctx: Context, plan_path: str | Path) -> Iterator[Session]:
    """Load the plan, reach its database (exit 5 if it cannot), and clean up afterwards."""
    from migrator.db.target import connect_engine, resolve_target
    from migrator.masking import Secrets
    from migrator.plan import load_plan
    from migrator.views.console import Reporter

    plan = load_plan(plan_path, ctx.plugins())
    secrets = Secrets()
    reporter = Reporter(
        ctx.out, ctx.err, output=ctx.output, log_format=ctx.log_format, secrets=secrets
    )
    target = resolve_target(ctx.dsn, announce=lambda line: reporter.say(line, style="dim"))
    secrets.add(target.password)
    db = connect_engine(target)
    try:
        yield Session(plan, target, db, secrets, reporter)
    finally:
        db.dispose()


def _finish(ctx: Context, session: Session, code: ExitCode, **extra: Any) -> ExitCode:
    if ctx.output == "json":
        from migrator import state

        with session.db.connect() as conn:
            phase = state.current_phase(conn, session.plan.name, session.plan.initial_phase)
        ctx.emit_json(
            session.secrets.mask_data(
                {
                    "plan": session.plan.name,
                    "exit_code": int(code),
                    "result": code.name.lower(),
                    "phase": phase,
                    **extra,
                    "events": session.reporter.events,
                }
            )
        )
    return code


def default_target_phase(plan: Plan, to: str | None) -> str:
    if to:
        return to
    if plan.kind == "hotfix":
        return "applied"
    raise UsageError(f"--to PHASE is required for a phased plan ({', '.join(plan.phases)})")


def apply(ctx: Context, plan_path: str | Path, to: str | None = None) -> ExitCode:
    """Move the plan to phase `to`, transition by transition; undo a transition that fails."""
    with open_session(ctx, plan_path) as session:
        target = default_target_phase(session.plan, to)
        code = session.runner(ctx).apply(target)
        return _finish(ctx, session, code)


def rollback(ctx: Context, plan_path: str | Path) -> ExitCode:
    """Take the last completed transition back (or undo an interrupted or failed run)."""
    with open_session(ctx, plan_path) as session:
        return _finish(ctx, session, session.runner(ctx).rollback())


def resume(
    ctx: Context,
    plan_path: str | Path,
    skip: dict[str, str] | None = None,
    batch_size: int | None = None,
) -> ExitCode:
    """Continue an interrupted run from its last recorded step (or retry a failed undo).

    `batch_size` changes the batch size of the backfill being resumed.
    """
    with open_session(ctx, plan_path) as session:
        return _finish(ctx, session, session.runner(ctx, skip, batch_size).resume())


def pause(ctx: Context, plan_path: str | Path) -> ExitCode:
    """Hold the plan's running backfill after its current batch (until `continue_`)."""
    return _hold(ctx, plan_path, paused=True)


def continue_(ctx: Context, plan_path: str | Path) -> ExitCode:
    """Release a paused backfill: it goes on with its next batch."""
    return _hold(ctx, plan_path, paused=False)


def _hold(ctx: Context, plan_path: str | Path, *, paused: bool) -> ExitCode:
    from migrator import state

    with open_session(ctx, plan_path) as session:
        with session.db.connect() as conn:
            state.ensure_schema(conn)
            with conn.begin():
                state.write_control(conn, session.plan.name, ctx.operator, paused=paused)
        name = session.plan.name
        session.reporter.say(
            f"plan {name}: its backfill holds after the current batch "
            f"(`migrator continue {plan_path}` releases it)"
            if paused
            else f"plan {name}: its backfill goes on"
        )
    return ExitCode.OK


def status(ctx: Context, plan_path: str | Path) -> ExitCode:
    """The current phase, the run in progress or interrupted, the lock holder, the last runs."""
    from migrator.views.status import plan_status, render_status

    return _show(ctx, plan_path, plan_status, render_status)


def history(ctx: Context, plan_path: str | Path) -> ExitCode:
    """Every run of the plan and every event of each run: the audit trail."""
    from migrator.views.status import plan_history, render_history

    return _show(ctx, plan_path, plan_history, render_history)


def graph(ctx: Context, plan_path: str | Path) -> ExitCode:
    """The plan's phases and transitions as a Mermaid state diagram.

    The phase the plan is in is highlighted when a database is named (`ctx.dsn`, else
    $MIGRATOR_DSN, else $DATABASE_URL) and can be reached; it is only read. Without
    one, the embedded PostgreSQL is not started just for a diagram; an unreachable one
    is said on stderr, and the diagram comes without a current phase (exit 0).
    """
    import os

    from migrator import state
    from migrator.db.target import Target, connect_engine
    from migrator.errors import DatabaseUnreachable
    from migrator.plan import load_plan
    from migrator.views.diagram import mermaid

    plan = load_plan(plan_path, ctx.plugins())
    named = ctx.dsn or os.environ.get("MIGRATOR_DSN") or os.environ.get("DATABASE_URL")
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


def report(ctx: Context, run_id: int) -> ExitCode:
    """One run's evidence: timeline, checks' actual against expected, approvals, undos.

    Reads schema `migrator` only. Exit 2 when the database holds no run `run_id`.
    """
    from migrator.db.target import connect_engine, resolve_target
    from migrator.masking import Secrets
    from migrator.views.report import load_records, markdown
    from migrator.views.report import report as build_report

    target = resolve_target(ctx.dsn, announce=lambda line: print(line, file=ctx.err))
    secrets = Secrets()
    secrets.add(target.password)
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
    if ctx.output == "json":
        ctx.emit_json(document)
    else:
        ctx.out.write(secrets.mask(markdown(document)))
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


def dry_run(ctx: Context, plan_path: str | Path, to: str | None = None) -> ExitCode:
    """The path to `to`, every check, step and undo with its SQL, and today's pre-check results.

    Writes nothing: not even schema `migrator` is created.
    """
    from migrator.views.dryrun import dry_run_document, render_dry_run

    with open_session(ctx, plan_path) as session:
        target = default_target_phase(session.plan, to)
        document = dry_run_document(session.environment(ctx), target)
        if ctx.output == "json":
            ctx.emit_json(session.secrets.mask_data(document))
        else:
            render_dry_run(document, session.reporter)
    return ExitCode.OK


def rehearse(
    ctx: Context,
    plan_path: str | Path,
    *,
    sample: str | None = None,
    keep: bool = False,
    scratch_dsn: str | None = None,
    pg_dump: str | None = None,
) -> ExitCode:
    """Walk every transition forward, back and forward again on a scratch copy of the target.

    Exit 1 when an undo does not restore what its transition changed (or a leg fails).
    `sample`: `N` rows or `P%` of each table's data (default: the schema only).
    """
    from migrator.rehearse.rehearsal import rehearse as run_rehearsal

    return run_rehearsal(
        ctx, plan_path, sample=sample, keep=keep, scratch_dsn=scratch_dsn, pg_dump=pg_dump
    )
