"""The commands about plan files and plugins, which need no database: validate, schema,
plugins, docs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from migrator.api.context import Context
from migrator.errors import DatabaseUnreachable, ExitCode, Problem, UsageError

if TYPE_CHECKING:
    from migrator.plan.model import Plan
    from migrator.views.rehearsed import Rehearsal


def validate(
    ctx: Context,
    paths: Sequence[str | Path],
    *,
    strict: bool = False,
    ci: Literal["github", "gitlab"] | None = None,
    squawk: bool = True,
) -> ExitCode:
    """Load and lint plans; print every problem with file:line:column; change nothing.

    `strict`: a warning fails the plan too (exit 2). `ci`: print the problems as GitHub
    workflow annotations or a GitLab Code Quality report instead (`views.lintreport`).
    With `ctx.dsn` (only that: validate reads no DSN from the environment) the target is
    read, never written: the actions' database rules run in a READ ONLY transaction that
    is rolled back, and squawk is told the server's version. `squawk` False leaves squawk
    out (`migrator.lint.squawk` says how it is found)."""
    from migrator.lint.squawk import from_environment
    from migrator.plan import check_plan

    registry = ctx.plugins()
    results: list[dict[str, Any]] = []
    problems: list[Problem] = []
    with _read_only(ctx.dsn) as (connection, version):
        # one squawk for every plan: one that failed (hung) is not asked again
        linter, trouble = from_environment(squawk, version)
        for path in paths:
            plan, found = check_plan(path, registry, connection, linter)
            if trouble is not None:
                found.append(Problem(str(path), 1, 1, "", trouble, "warning"))
            problems += found
            _tally(results, path, plan, found, strict)
    failed = not all(r["valid"] for r in results)
    if ci is not None:
        _print_for_ci(ctx, ci, problems, results, strict)
    elif ctx.output == "json":
        ctx.emit_json(
            {
                "valid": not failed,
                "plans": results,
                "problems": [p.as_dict() for p in problems],
            }
        )
    else:
        for problem in problems:
            print(problem, file=ctx.out)
        for r in results:
            print(_verdict(r, strict), file=ctx.out)
    return ExitCode.INVALID if failed else ExitCode.OK


@contextmanager
def _read_only(dsn: str | None) -> Iterator[tuple[Any, str | None]]:
    """A connection to `dsn` in a READ ONLY transaction rolled back at the end, and the
    server's version as squawk takes it (`14.11`); (None, None) without a DSN. A server
    that cannot be reached: DatabaseUnreachable (exit 5)."""
    if not dsn:
        yield None, None
        return
    from migrator.db.target import Target, connect_engine

    target = Target(dsn, "--dsn")
    engine = connect_engine(target, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            conn.exec_driver_sql("set transaction read only")
            conn.exec_driver_sql("set local statement_timeout = '30s'")
            # squawk may take a while between two reads: the server must not end us for it
            conn.exec_driver_sql("set local idle_in_transaction_session_timeout = 0")
            number = int(conn.exec_driver_sql("show server_version_num").scalar_one())
            try:
                yield conn, f"{number // 10000}.{number % 10000}"
            finally:
                with suppress(Exception):  # a connection lost: nothing to roll back
                    tx.rollback()
    except Exception as error:
        from migrator.db.failures import error_text, is_connection_lost
        from migrator.db.target import scrub

        if not is_connection_lost(error):
            raise
        reason = scrub(f"the connection was lost: {error_text(error)}", target)
        raise DatabaseUnreachable(target.shown, reason) from None
    finally:
        engine.dispose()


def _tally(
    results: list[dict[str, Any]],
    path: str | Path,
    plan: Any,
    found: list[Problem],
    strict: bool,
) -> None:
    errors = sum(p.severity == "error" for p in found)
    warnings = len(found) - errors
    results.append(
        {
            "file": str(path),
            "plan": plan.name if plan else None,
            "valid": errors == 0 and not (strict and warnings),
            "errors": errors,
            "warnings": warnings,
        }
    )


def _verdict(r: dict[str, Any], strict: bool) -> str:
    """The line that ends a plan's problems, on one line whatever its file's name holds (a
    line break in it could start a GitHub workflow command)."""
    from migrator.errors import on_one_line

    return on_one_line(_verdict_text(r, strict))


def _verdict_text(r: dict[str, Any], strict: bool) -> str:
    verdict = "valid" if r["valid"] else "INVALID"
    if strict and not r["valid"] and not r["errors"]:
        verdict = "INVALID (--strict: warnings fail)"
    name = f" (plan {r['plan']})" if r["plan"] else ""
    counts = f"{r['errors']} error(s), {r['warnings']} warning(s)"
    return f"{r['file']}{name}: {verdict}, {counts}"


def _print_for_ci(
    ctx: Context,
    ci: Literal["github", "gitlab"],
    problems: list[Problem],
    results: list[dict[str, Any]],
    strict: bool,
) -> None:
    from migrator.views.lintreport import github_annotations, gitlab_report

    if ci == "gitlab":
        ctx.emit_json(gitlab_report(problems))
        return
    for line in github_annotations(problems):
        print(line, file=ctx.out)
    for r in results:
        print(_verdict(r, strict), file=ctx.out)


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
            "plan_keys": [
                k.split(":", 1)[1] for k in keys.get(info.name, []) if k.startswith("plan_key:")
            ],
            "options": [
                registry.options[k.split(":", 1)[1]].flag
                for k in keys.get(info.name, [])
                if k.startswith("option:")
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
        if row["plan_keys"]:
            print(f"  plan keys: {', '.join(row['plan_keys'])}", file=ctx.out)
        if row["options"]:
            print(f"  options: {', '.join(row['options'])} (apply, rollback, resume)", file=ctx.out)
    return ExitCode.OK


DocsFormat = Literal["markdown", "html", "json"]
DOCS_SUFFIX: dict[str, str] = {"markdown": ".md", "html": ".html", "json": ".json"}


def docs(
    ctx: Context,
    plan_paths: Sequence[str | Path],
    *,
    form: DocsFormat = "markdown",
    out_dir: str | Path | None = None,
    rehearsals: Sequence[str | Path] = (),
    source: bool = False,
) -> ExitCode:
    """Render plans as runbooks (Markdown, a standalone HTML page, or JSON); no database.

    Each step shows its lint findings. `rehearsals`: `rehearse --output json` documents,
    each of one of the plans (of that very version: exit 2 otherwise), whose locks and
    rewrites are shown beside the steps.

    Without `out_dir`, the one plan's runbook goes to `ctx.out` (Markdown rendered by
    rich when it is a terminal). With it, each plan is
    written to `out_dir/<plan>.md` (`.html`, `.json`) and its diagram to
    `out_dir/<plan>.mmd`, and every file written is named on a line.

    `source` (Markdown, without `out_dir`): the Markdown itself, never rendered, and of
    several plans one document, each plan a section: the runbook of the plans a change
    touches, as one pull-request comment (its first line `<!-- migrator-docs -->`).
    """
    from migrator.plan import load_plan
    from migrator.views.diagram_svg import runbook_svg
    from migrator.views.markdown import is_terminal, write
    from migrator.views.runbook import runbook
    from migrator.views.runbook_html import html_page
    from migrator.views.runbook_markdown import markdown

    if out_dir is None and len(plan_paths) != 1 and not (source and form == "markdown"):
        raise UsageError("give one PLAN, or --out DIR to write a runbook for each")
    registry = ctx.plugins()
    plans = [load_plan(path, registry) for path in plan_paths]
    traces = _rehearsals(ctx, plans, rehearsals)
    rendered: list[tuple[str, str, str]] = []  # (plan, runbook text, diagram)
    for plan in plans:
        document = runbook(plan, registry, traces.get(plan.name))
        if form == "json":
            text = json.dumps(document, indent=2, default=str) + "\n"
        elif form == "html":
            text = html_page(
                markdown(document), f"Runbook: {plan.name}", diagram=runbook_svg(document)
            )
        else:  # on a terminal the transitions as lines, not Mermaid source
            shown = out_dir is None and is_terminal(ctx.out) and not source
            text = markdown(document, terminal=shown)
        rendered.append((plan.name, text, document["diagram"]))
    if out_dir is None and source and form == "markdown":
        from migrator.views.values import visible

        texts = [text for _, text, _ in rendered]
        ctx.out.write(visible("<!-- migrator-docs -->\n" + "\n---\n\n".join(texts), lines=True))
        return ExitCode.OK
    if out_dir is None:
        if form == "markdown":
            write(rendered[0][1], ctx.out)  # rendered by rich on a terminal
        else:
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


def _rehearsals(
    ctx: Context, plans: Sequence[Plan], paths: Sequence[str | Path]
) -> dict[str, Rehearsal]:
    """Each rehearsal document given, by the plan it rehearsed; all read before anything
    is written, and refused (exit 2) when it is not of one of `plans` as they are now."""
    from migrator.views.rehearsed import check_fits, read_rehearsal

    by_name = {plan.name: plan for plan in plans}
    found: dict[str, Rehearsal] = {}
    for path in paths:
        rehearsal = read_rehearsal(path)
        plan = by_name.get(rehearsal.plan, plans[0] if len(plans) == 1 else None)
        if plan is None:
            names = ", ".join(f"'{name}'" for name in by_name)
            raise UsageError(
                f"--rehearsal {str(path)!r} is a rehearsal of plan '{rehearsal.plan}', "
                f"not of {names}"
            )
        check_fits(rehearsal, plan.name, plan.checksum, plan.file)
        if plan.name in found:
            raise UsageError(f"two --rehearsal documents of plan '{plan.name}': give one")
        if rehearsal.checksum is None:
            print(
                f"warning: --rehearsal {str(path)!r} does not say which version of "
                f"{plan.file} it rehearsed (no plan_checksum): shown as it is",
                file=ctx.err,
            )
        found[plan.name] = rehearsal
    return found
