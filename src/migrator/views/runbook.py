"""A plan as a runbook for people (`migrator docs`): Markdown, a standalone HTML page, or JSON.

Everything here is a pure function of the loaded plan and the registry that describes
its steps and checks: no database, no clock, no environment. The SQL shown is the plan's
own text, with its `:name` parameters as written; `${env:NAME}` references are shown as
written and never resolved, so a runbook can be published without leaking a secret.
"""

from __future__ import annotations

import html
from typing import Any

from migrator.plan.interpolate import InterpolationError, references
from migrator.plan.model import Plan, Transition
from migrator.plugin.registry import Registry
from migrator.views.diagram import mermaid
from migrator.views.markdown import code as _code
from migrator.views.markdown import escape as _md
from migrator.views.markdown import fence as _fence

SQL_KEYS = frozenset({"sql", "query", "policy", "rls"})
"""Action and check keys whose description is SQL (highlighted as such in Markdown)."""


# -- the runbook as data -------------------------------------------------------------------


def runbook(plan: Plan, registry: Registry) -> dict[str, Any]:
    """The runbook of `plan` as a JSON-able document (what `--output json` prints)."""
    transitions = [_transition(plan, registry, t) for t in plan.transitions]
    irreversible = [
        {"transition": t["name"], "step": s["name"]}
        for t in transitions
        for s in t["steps"]
        if s["undo"]["kind"] == "irreversible"
    ]
    return {
        "plan": plan.name,
        "kind": plan.kind,
        "file": plan.file,
        "description": plan.description,
        "phases": list(plan.phases),
        "initial_phase": plan.initial_phase,
        "variables": dict(plan.variables),
        "environment": _environment(plan),
        "highest_risk": max((t.risk for t in plan.transitions), key=_RISKS.index, default="low"),
        "irreversible_steps": irreversible,
        "diagram": mermaid(plan),
        "transitions": transitions,
    }


_RISKS = ["low", "medium", "high"]


def _environment(plan: Plan) -> list[str]:
    """The environment variables the plan reads with `${env:NAME}` (their names only)."""
    names: set[str] = set()
    for value in _strings(plan.source.data):
        try:
            names |= {r.name for r in references(value) if r.env}
        except InterpolationError:
            continue
    return sorted(names)


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for v in data.values() for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def _way_back(plan: Plan, t: Transition) -> str | None:
    """The transition `migrator rollback` runs after `t` succeeded, if the plan has one."""
    for other in plan.transitions:
        if other.source == t.target and other.target == t.source and other.reverts is None:
            return other.name
    return None  # `migrator rollback` undoes the run's steps in reverse order


def _transition(plan: Plan, registry: Registry, t: Transition) -> dict[str, Any]:
    if t.reverts is not None:
        original = plan.transition(t.reverts)
        steps = [
            {
                "name": f"undo {s['name']}",
                "action": f"undo:{s['action']}",
                "describe": s["undo"]["text"],
                "language": s["undo"]["language"],
                "description": None,
                "risk": None,
                "timeout": None,
                "lock_timeout": None,
                "retries": 0,
                "undo": {
                    "kind": "none",
                    "text": "the undo of a step is not undone",
                    "language": "",
                },
            }
            for s in reversed([_step(registry, i, s) for i, s in enumerate(original.steps)])
        ]
    else:
        steps = [_step(registry, i, s) for i, s in enumerate(t.steps)]
    return {
        "name": t.name,
        "from": t.source,
        "to": t.target,
        "risk": t.risk,
        "approval": t.approval,
        "description": t.description,
        "reverts": t.reverts,
        "way_back": _way_back(plan, t) if t.reverts is None else None,
        "pre_checks": [_check(registry, i, c) for i, c in enumerate(t.pre_checks)],
        "steps": steps,
        "undo_order": [
            {"step": s["name"], **s["undo"]} for s in reversed(steps) if t.reverts is None
        ],
        "post_checks": [_check(registry, i, c) for i, c in enumerate(t.post_checks)],
    }


def _step(registry: Registry, index: int, step: Any) -> dict[str, Any]:
    spec = registry.actions[step.action_key]
    if step.rollback == "irreversible":
        kind = "irreversible"
        language = ""
    elif step.rollback:
        kind = "rollback"
        keys = {u.action_key for u in step.rollback}
        language = "sql" if keys <= SQL_KEYS else ""
    elif spec.undo is not None:
        kind, language = "default", ""
    else:
        kind, language = "none", ""
    return {
        "name": step.label(index),
        "action": step.action_key,
        "describe": spec.describe(step),
        "language": "sql" if step.action_key in SQL_KEYS else "",
        "description": step.description,
        "risk": step.risk,
        "timeout": step.timeout,
        "lock_timeout": step.lock_timeout,
        "retries": step.retries,
        "undo": {"kind": kind, "text": registry.describe_undo(step), "language": language},
    }


def _check(registry: Registry, index: int, check: Any) -> dict[str, Any]:
    spec = registry.checks[check.check_key]
    return {
        "name": check.label(index),
        "check": check.check_key,
        "describe": spec.describe(check),
        "language": "sql" if check.check_key in SQL_KEYS else "",
        "description": check.description,
        "expect": None if check.expectation is None else str(check.expectation),
        "on_fail": check.on_fail,
        "wait": check.wait.model_dump() if check.wait else None,
        "soak": check.soak.model_dump() if check.soak else None,
    }


# -- Markdown -------------------------------------------------------------------------------


def markdown(doc: dict[str, Any]) -> str:
    """The runbook as Markdown (GitHub flavoured: tables, a ```mermaid diagram)."""
    out: list[str] = []
    add = out.append
    add(f"# Runbook: {_md(doc['plan'])}")
    add("")
    add(
        f"_Generated by `migrator docs` from {_code(doc['file'])}. Edit the plan, not this "
        "page; the SQL below is the plan's own, with its `:name` parameters bound at run time._"
    )
    add("")
    if doc["description"]:
        add(_md(doc["description"]))
        add("")
    _summary(doc, add)
    add("## Phases and transitions")
    add("")
    add(_fence(doc["diagram"], "mermaid"))
    add("")
    add("| # | transition | from → to | risk | approval | pre-checks | steps | post-checks |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, t in enumerate(doc["transitions"], 1):
        add(
            f"| {n} | {_tcode(t['name'])} | {_tcode(t['from'])} → {_tcode(t['to'])} "
            f"| {t['risk']} | {'required' if t['approval'] else '-'} | {len(t['pre_checks'])} "
            f"| {len(t['steps'])} | {len(t['post_checks'])} |"
        )
    add("")
    for n, t in enumerate(doc["transitions"], 1):
        _transition_md(doc, n, t, add)
    return "\n".join(out).rstrip() + "\n"


def _summary(doc: dict[str, Any], add: Any) -> None:
    add("## Summary")
    add("")
    kind = (
        "a hotfix: pending → applied, taken back by undoing its steps in reverse order"
        if doc["kind"] == "hotfix"
        else "phased"
    )
    add(f"- **Plan:** {_code(doc['plan'])}, {kind}")
    add(f"- **Phases:** {' → '.join(_code(p) for p in doc['phases'])}")
    add(f"- **Highest risk:** {doc['highest_risk']}")
    gated = [t["name"] for t in doc["transitions"] if t["approval"]]
    approval = "required for " + ", ".join(_code(g) for g in gated) if gated else "not required"
    add(f"- **Approval:** {approval}")
    if doc["variables"]:
        shown = ", ".join(
            f"{_code(':' + k)} = {_code(_value(v))}" for k, v in doc["variables"].items()
        )
        add(f"- **Variables** (override with `--var NAME=VALUE`): {shown}")
    if doc["environment"]:
        names = ", ".join(_code(n) for n in doc["environment"])
        add(f"- **Read from the environment:** {names} (values never shown)")
    if doc["irreversible_steps"]:
        steps = ", ".join(
            f"{_md(s['step'])} (in {_code(s['transition'])})" for s in doc["irreversible_steps"]
        )
        add(f"- **Irreversible steps:** {steps}")
    else:
        add("- **Irreversible steps:** none")
    add("")


def _transition_md(doc: dict[str, Any], n: int, t: dict[str, Any], add: Any) -> None:
    add(f"## {n}. {_md(t['name'])}: {_md(t['from'])} → {_md(t['to'])}")
    add("")
    gate = (
        "required: `--yes`, or a confirmation at a terminal; who approved is recorded"
        if t["approval"]
        else "not required"
    )
    add(f"**Risk:** {t['risk']} · **Approval:** {gate}")
    add("")
    if t["description"] and t["description"] != doc["description"] and t["reverts"] is None:
        add(_md(t["description"]))
        add("")
    file = doc["file"]
    if t["reverts"] is not None:
        add(
            f"The way back of {_code(t['reverts'])}: its steps are undone in reverse order, "
            "each by its `rollback`, else by its action's default undo."
        )
        add("")
        add(_fence(f"migrator rollback {_shell(file)}", "sh"))
        add("")
    else:
        to = "" if doc["kind"] == "hotfix" else f" --to {_shell(t['to'])}"
        commands = (
            f"migrator plan {_shell(file)}{to}    # dry run: the SQL, today's pre-check results\n"
            f"migrator apply {_shell(file)}{to}"
        )
        add(f"From phase {_code(t['from'])}:")
        add("")
        add(_fence(commands, "sh"))
        add("")
    _checks_md(
        "Pre-checks",
        "Every pre-check is evaluated before anything changes; one that fails (and is not "
        "`on_fail: warn`) stops the transition: nothing is applied.",
        t["pre_checks"],
        add,
    )
    if t["steps"]:
        add("### Steps")
        add("")
        add(
            "In order, each in its own transaction recorded with it (unless the action cannot "
            "run in one)."
        )
        add("")
        for i, s in enumerate(t["steps"], 1):
            _step_md(i, s, add, undo=t["reverts"] is None)
    if t["undo_order"]:
        add("### Rollback plan")
        add("")
        add(
            "If a step or a post-check fails, migrator undoes the steps this run completed, "
            "last first, and the plan stays in phase "
            f"{_code(t['from'])} (exit 1; exit 3 if an undo fails):"
        )
        add("")
        for i, u in enumerate(t["undo_order"], 1):
            add(f"{i}. {_md(u['step'])}: {_undo_summary(u)}")
        add("")
        back = t["way_back"]
        how = f"runs the transition {_code(back)}" if back else "undoes these steps in this order"
        add(
            f"After it succeeded, `migrator rollback {_shell(file)}` {how}, and the plan is "
            f"back in {_code(t['from'])}."
        )
        add("")
    _checks_md(
        "Success criteria (post-checks)",
        "After the steps; a failure undoes the run. Soak windows keep checking for their "
        "whole duration.",
        t["post_checks"],
        add,
    )


def _checks_md(title: str, intro: str, checks: list[dict[str, Any]], add: Any) -> None:
    if not checks:
        return
    add(f"### {title}")
    add("")
    add(intro)
    add("")
    for i, c in enumerate(checks, 1):
        bits = [f"`{c['check']}`"]
        if c["expect"] is not None:
            bits.append(f"expect {_code(c['expect'])}")
        bits.append("on failure: warn and go on" if c["on_fail"] == "warn" else "on failure: abort")
        if c["wait"]:
            w = c["wait"]
            bits.append(
                f"polled every {_duration(w['interval'])} for up to {_duration(w['timeout'])}"
            )
        if c["soak"]:
            s = c["soak"]
            bits.append(
                f"soak: checked every {_duration(s['interval'])} for {_duration(s['duration'])}, "
                f"at most {s['failure_limit']} failed sample(s)"
            )
        add(f"**{i}. {_md(c['name'])}** ({'; '.join(bits)})")
        add("")
        if c["description"]:
            add(_md(c["description"]))
            add("")
        add(_fence(c["describe"], c["language"]))
        add("")


def _step_md(i: int, s: dict[str, Any], add: Any, *, undo: bool) -> None:
    bits = [f"`{s['action']}`"]
    if s["risk"]:
        bits.append(f"risk {s['risk']}")
    if s["timeout"]:
        bits.append(f"timeout {_duration(s['timeout'])}")
    if s["lock_timeout"]:
        bits.append(f"lock timeout {_duration(s['lock_timeout'])}")
    if s["retries"]:
        bits.append(f"{s['retries']} retries")
    add(f"**{i}. {_md(s['name'])}** ({'; '.join(bits)})")
    add("")
    if s["description"]:
        add(_md(s["description"]))
        add("")
    add(_fence(s["describe"], s["language"]))
    add("")
    if undo:
        u = s["undo"]
        if u["kind"] == "rollback":
            add("Undone by:")
            add("")
            add(_fence(u["text"], u["language"]))
        else:
            add(f"Undone by: {_undo_summary(u)}")
        add("")


def _undo_summary(u: dict[str, Any]) -> str:
    if u["kind"] == "rollback":
        lines = str(u["text"]).splitlines()
        first = lines[0] if lines else ""
        more = f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else ""
        return f"its rollback {_code(first)}{more}"
    if u["kind"] == "irreversible":
        return "**nothing: marked irreversible**"
    if u["kind"] == "none":
        return "**nothing: no rollback given**"
    return _md(str(u["text"]))


# -- small helpers ------------------------------------------------------------------------


def _shell(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _value(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size) == int(seconds / size):
            return f"{int(seconds / size)}{unit}"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


# -- HTML -------------------------------------------------------------------------------------

MERMAID_SCRIPT = "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1f2328; }
pre { background: #f6f8fa; padding: .75rem; overflow-x: auto; border-radius: 6px; }
code { font-family: ui-monospace, monospace; font-size: .9em; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; }
pre.mermaid { background: none; }
""".strip()


def html_page(markdown_text: str, title: str) -> str:
    """A standalone HTML page of a Markdown runbook.

    Plan text is escaped (raw HTML in a plan is shown, never interpreted). The diagram is
    kept as Mermaid source in `<pre class="mermaid">`; a browser that can fetch Mermaid's
    script draws it, any other shows the source.
    """
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML

    class Renderer(RendererHTML):
        def fence(self, tokens: Any, idx: int, options: Any, env: Any) -> str:
            token = tokens[idx]
            if token.info.strip() == "mermaid":
                return f'<pre class="mermaid">{html.escape(token.content)}</pre>\n'
            return super().fence(tokens, idx, options, env)

    md = MarkdownIt("commonmark", {"html": False}, renderer_cls=Renderer).enable("table")
    body = md.render(markdown_text)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_STYLE}\n</style>\n"
        f'<script type="module">import mermaid from "{MERMAID_SCRIPT}"; '
        "mermaid.initialize({startOnLoad: true});</script>\n"
        f"</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _tcode(text: str) -> str:
    return _code(text, in_table=True)
