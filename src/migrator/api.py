"""The library behind the command line: one typed function per command.

Each takes a `Context` first (where output goes, which database, who operates)
and returns an exit code; errors are raised as `MigratorError`s. The CLI only
parses arguments, calls these, and turns errors into one line and an exit code.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from .errors import ExitCode, Problem
from .registry import Registry

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
    registry: Registry | None = None

    def plugins(self) -> Registry:
        if self.registry is None:
            from .plugins import default_registry

            self.registry = default_registry()
        return self.registry

    def emit_json(self, document: Any) -> None:
        json.dump(document, self.out, indent=2, default=str)
        self.out.write("\n")

    def say(self, line: str) -> None:
        """A line for a person: on stdout for text output, on stderr beside JSON."""
        print(line, file=self.err if self.output == "json" else self.out)


def validate(ctx: Context, paths: Sequence[str | Path]) -> ExitCode:
    """Load and lint plans; print every problem with file:line:column; change nothing."""
    from .plan import check_plan

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
    from .plan.model import plan_models

    ctx.emit_json(plan_models(ctx.plugins()).json_schema())
    return ExitCode.OK


def plugins(ctx: Context) -> ExitCode:
    """List the loaded plugins, their versions, and the keys each provides."""
    from .plugins import get_plugin_manager

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
