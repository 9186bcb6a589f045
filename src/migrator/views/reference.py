"""The plan reference, docs/reference.md, rendered from what the plugins register.

Every action and check key comes from the plugin registry; its configuration's
fields (name, type, required, default, description) from its pydantic model; the
keys any step, check, transition or plan may carry from the plan models. Run
`python -m migrator.views.reference > docs/reference.md` to regenerate it;
tests/e2e/test_reference.py fails while the file differs.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, BeforeValidator, WithJsonSchema
from pydantic.fields import FieldInfo

from migrator.plan.fields import GenericExpect, parse_duration
from migrator.plan.model import CheckBase, PlanFields, StepBase, TransitionFields
from migrator.plugin.manager import get_plugin_manager
from migrator.plugin.registry import ActionSpec, CheckSpec, Registry
from migrator.views.markdown import code

REGENERATE = "python -m migrator.views.reference > docs/reference.md"
"""The command that writes docs/reference.md."""

OWN_DISTRIBUTION = "migrator"
"""Only the plugins this project ships are documented, whatever else is installed."""

_SCALARS = {str: "text", int: "integer", float: "number", bool: "boolean"}
_BOUNDS = ((Gt, "gt", ">"), (Ge, "ge", ">="), (Lt, "lt", "<"), (Le, "le", "<="))

COMMON = {
    "name": "what output and the audit trail call it",
    "description": "free text, shown in the runbook",
    "plan": "the plan's name: its lock, its state and its runs are keyed by it",
    "vars": "variables: bound as `:name` in SQL, `${name}` in other strings; `--var` overrides",
    "from": "the phase it starts from",
    "to": "the phase it ends in",
    "risk": "shown in the dry run and the runbook",
    "approval": "needs `--yes` or a confirmation at a terminal; who approved is recorded",
    "timeout": "statement timeout of the step's SQL; a `command`'s time limit",
    "lock_timeout": "a lock waited for longer fails the attempt, which is retried (default 5s)",
    "retries": "attempts after a failure; a lost connection or a lock not granted: at least 3",
    "on_fail": "`warn` records the failure and goes on",
    "wait": "poll the check until it passes or `timeout` runs out",
    "soak": "keep checking for `duration`; fail once failures exceed `failure_limit`",
}
"""What the keys of plans, transitions, steps and checks mean, where their models say nothing."""


def _is_duration(metadata: Any) -> bool:
    """Whether a field's validators parse a duration (`5s`, `10m`, `250ms`)."""
    for item in metadata:
        if isinstance(item, BeforeValidator):
            func: Any = item.func
            body = getattr(func, "__code__", None)
            if func is parse_duration or (body is not None and "parse_duration" in body.co_names):
                return True
    return False


def _cell(text: str) -> str:
    """Markdown written by a plugin's author, on one line of a table."""
    return " ".join(text.split()).replace("|", "\\|")


def render_type(annotation: Any) -> str:
    """A type as a plan author reads it: `text`, `list of text`, `"GET" | "POST"`."""
    if annotation is Any or annotation is object:
        return "any"
    if annotation is type(None):
        return "null"
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return "duration" if _is_duration(args[1:]) else render_type(args[0])
    if origin is Union or origin is types.UnionType:
        shown = [a for a in args if a is not type(None)] or list(args)
        return " | ".join(render_type(a) for a in shown)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list of {render_type(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {render_type(args[0])} to {render_type(args[1])}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if isinstance(annotation, type):
        return _SCALARS.get(annotation, annotation.__name__)
    return str(annotation)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (through `Annotated` and `| None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        for arg in get_args(annotation):
            model = _model_of(arg)
            if model is not None:
                return model
    return None


def _bounds(info: FieldInfo) -> str:
    found: list[str] = []
    for item in info.metadata:
        for kind, attribute, sign in _BOUNDS:
            if isinstance(item, kind):
                found.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, MinLen) and item.min_length > 0:
            found.append(f"at least {item.min_length}")
        if isinstance(item, MaxLen):
            found.append(f"at most {item.max_length}")
    return f" ({', '.join(found)})" if found else ""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return ""
    return code(json.dumps(value), in_table=True)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def field_table(
    model: type[BaseModel], *, notes: Mapping[str, str] | None = None, extra: Sequence[str] = ()
) -> Iterator[str]:
    """A Markdown table of `model`'s fields, then one table per nested model.

    `notes` describe keys whose fields carry no description; `extra` are rows of keys
    the model leaves to others (a step's `rollback`).
    """
    yield "| key | type | default | description |"
    yield "| --- | --- | --- | --- |"
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        shown = "duration" if _is_duration(info.metadata) else render_type(info.annotation)
        description = info.description or (notes or {}).get(key, "")
        yield _row([code(key), _cell(shown + _bounds(info)), _default(info), _cell(description)])
        inner = _model_of(info.annotation)
        if inner is not None:
            nested.append((key, inner))
    yield from extra
    for key, inner in nested:
        yield ""
        yield f"Keys of {code(key)}:"
        yield ""
        yield from field_table(inner)


def _generic_expect() -> str:
    for item in get_args(GenericExpect)[1:]:
        if isinstance(item, WithJsonSchema) and item.json_schema:
            return str(item.json_schema.get("description", ""))
    return "a value"


def _config(config: Any) -> Iterator[str]:
    model = _model_of(config)
    if model is None:
        yield f"Its value: {render_type(config)}."
        return
    yield "Its value, a mapping:"
    yield ""
    yield from field_table(model)


def _capabilities(spec: ActionSpec | CheckSpec, plugin: str) -> Iterator[str]:
    yield f"- provided by the plugin {code(plugin)}"
    if spec.reaches_outside:
        yield "- reaches outside the database: `migrator rehearse` never calls it"
    if getattr(spec, "stand_in", None) is not None:
        yield "- stood in on a rehearsal: `migrator rehearse` runs its stand-in instead"
    language = spec.language
    if language:
        yield f"- its text is shown as {code(language)}"


def _heading(spec: ActionSpec | CheckSpec, plugin: str) -> Iterator[str]:
    """A key's title, its summary as a sentence, and what it declares of itself."""
    yield f"### {code(spec.key)}"
    yield ""
    if spec.summary:
        yield spec.summary[0].upper() + spec.summary[1:] + "."
        yield ""
    yield from _capabilities(spec, plugin)


def action_section(spec: ActionSpec, plugin: str) -> Iterator[str]:
    yield from _heading(spec, plugin)
    if callable(spec.transactional):
        yield "- in the step's transaction or not: decided per step"
    elif spec.transactional:
        yield "- runs in the step's transaction, committed with its audit event (exactly once)"
    else:
        yield "- runs outside a transaction: recorded after it ran (a crash in between repeats it)"
    if spec.undo is not None:
        doc = (spec.undo.__doc__ or "").strip().splitlines()
        yield "- its default undo" + (f": {doc[0]}" if doc else "")
    else:
        yield "- no default undo: its `rollback` says how to undo it"
    if getattr(spec, "pausable", False):
        yield "- `migrator pause` holds it between units of work, `migrator continue` lets it go on"
    if spec.preview is not None:
        yield "- `migrator plan` previews it on today's data"
    if spec.lint is not None:
        yield "- `migrator validate` lints it"
    yield ""
    yield from _config(spec.config)
    if spec.options is not None:
        yield ""
        yield f"Keys allowed beside {code(spec.key)} in the step:"
        yield ""
        yield from field_table(spec.options)
    yield ""


def check_section(spec: CheckSpec, plugin: str) -> Iterator[str]:
    yield from _heading(spec, plugin)
    if not spec.accepts_expect:
        yield "- takes no `expect`: it says what it expects in its own keys"
    else:
        need = "required" if spec.expect_required else "optional"
        if spec.expect is None:
            yield f"- `expect` ({need}): {_generic_expect()}"
        elif _model_of(spec.expect) is None:
            yield f"- `expect` ({need}): {render_type(spec.expect)}"
        else:
            yield f"- `expect` ({need}): a mapping (below)"
    yield ""
    yield from _config(spec.config)
    model = _model_of(spec.expect) if spec.accepts_expect else None
    if model is not None:
        yield ""
        yield "Keys of `expect`:"
        yield ""
        yield from field_table(model)
    yield ""


_ROLLBACK = _row(
    [
        "`rollback`",
        "a step, a list of steps, or `irreversible`",
        "",
        "how to undo this step; without it, its action's default undo",
    ]
)
_EXPECT = _row(["`expect`", "depends on the check (below)", "", "what the check must find"])


def render_reference(registry: Registry) -> str:
    """docs/reference.md for the actions and checks of `registry`."""
    lines = [
        "# Plan reference",
        "",
        "<!-- Generated from the plugins' specs: do not edit by hand. -->",
        f"Generated from the registered plugins by `{REGENERATE}`; a test fails when this",
        "file differs. How a run uses these keys: [concepts.md](concepts.md).",
        "",
        "## Plan",
        "",
        "A phased plan has `phases` and `transitions`; a hotfix (`kind: hotfix`) has",
        "`pre_checks`, `steps` and `post_checks` directly, and `risk`, `approval` and",
        "`ignore` (a transition's keys, below).",
        "",
        *field_table(PlanFields, notes=COMMON),
        _row(["`kind`", _cell('"phased" | "hotfix"'), code('"phased"', in_table=True), ""]),
        _row(["`phases`", "list of text (at least 2)", "", "a phased plan's phases, in order"]),
        _row(["`transitions`", "list of transitions (at least 1)", "", "a phased plan's moves"]),
        "",
        "## Transition",
        "",
        *field_table(TransitionFields, notes=COMMON),
        _row(["`pre_checks`", "list of checks", code("[]", in_table=True), "checked before"]),
        _row(["`steps`", "list of steps", code("[]", in_table=True), "run in order"]),
        _row(["`post_checks`", "list of checks", code("[]", in_table=True), "checked after"]),
        "",
        "## Step",
        "",
        "A step is a mapping with exactly one action key (below), and any of:",
        "",
        *field_table(StepBase, notes=COMMON, extra=[_ROLLBACK]),
        "",
        "## Check",
        "",
        "A check is a mapping with exactly one check key (below), and any of:",
        "",
        *field_table(CheckBase, notes=COMMON, extra=[_EXPECT]),
        "",
        "## Actions",
        "",
    ]
    for key in sorted(registry.actions):
        lines += action_section(registry.actions[key], registry.providers[("action", key)])
    lines += ["## Checks", ""]
    for key in sorted(registry.checks):
        lines += check_section(registry.checks[key], registry.providers[("check", key)])
    return "\n".join(lines).rstrip() + "\n"


def builtin_registry() -> Registry:
    """The registry of the plugins this project ships (a third party's are left out)."""
    pm = get_plugin_manager()
    full = pm.build_registry()
    own = {name for name, info in pm.infos.items() if info.distribution == OWN_DISTRIBUTION}
    registry = Registry()
    for (kind, key), plugin in sorted(full.providers.items()):
        if plugin not in own:
            continue
        if kind == "action":
            registry.add_action(full.actions[key], plugin)
        elif kind == "check":  # a plugin's plan keys and options are not in this reference
            registry.add_check(full.checks[key], plugin)
    return registry


def main() -> None:
    sys.stdout.write(render_reference(builtin_registry()))


if __name__ == "__main__":
    main()
