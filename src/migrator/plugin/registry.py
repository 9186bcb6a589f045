"""What plugins register: action and check kinds, keyed by the plan key that selects them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from migrator.errors import PluginError

if TYPE_CHECKING:
    from migrator.lint.findings import LintFinding, LintRule, SqlText
    from migrator.plugin.context import CheckContext, StepContext

# migrator's own top-level plan keys and run options: no plugin may take them
PLAN_KEYS = frozenset(
    {
        "plan",
        "kind",
        "description",
        "vars",
        "phases",
        "transitions",
        "risk",
        "approval",
        "ignore",
        "pre_checks",
        "steps",
        "post_checks",
    }
)
OPTION_NAMES = frozenset(
    {
        "dsn",
        "variables",
        "var",
        "assume_yes",
        "yes",
        "operator",
        "output",
        "force",
        "log_format",
        "to",
        "dry_run",
        "skip",
        "reason",
        "batch_size",
        "help",
        "traceback",
        "plan",
        "rehearsal",
    }
)
# a plugin's plan key or option: lower case, a letter first (it becomes a pydantic field
# and a click parameter, so none of pydantic's own names)
PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Undo = Callable[["StepContext", Any, Any], None]
"""`undo(ctx, config, memo)`: take back what `run` did; `memo` is what `run` returned."""


@dataclass(frozen=True)
class ActionSpec:
    """A kind of step, selected in a plan by its `key`.

    - `config`: the type of the value under `key` (a pydantic model, `str`, ...).
    - `options`: a pydantic model of extra keys allowed beside `key` in the step
      (`autocommit` beside `sql`); None when there are none.
    - `run(ctx, step)`: do it; returns a JSON-able memo that is stored in the audit
      trail and handed to `undo`.
    - `undo(ctx, step, memo)`: the default way back, or None when there is none
      (then the step needs its own `rollback`).
    - `describe(step)`: the text a dry run shows (the exact SQL, the request).
    - `transactional`: whether the step runs in a transaction committed together
      with its audit event (exactly once); False for steps that cannot (an HTTP
      call, a person, `CREATE INDEX CONCURRENTLY`): those are recorded after they
      ran, so a crash in between repeats them on resume. A callable decides per step.
    - `preview(ctx, step)`: optional; what a dry run can tell from today's data
      (rows a backfill would copy), run in a READ ONLY transaction.
    - `lint(step)`: optional; what `migrator validate` warns about in this step: each a
      `LintFinding` (a rule id of `rules`, the reason, where in the step), or a plain string
      (its rule id is then `<key>-lint`).
    - `sql_texts(step)`: optional; every SQL text the step sends, as `SqlText`s (where in
      the step, the text, in a transaction or not, the parameters the action binds
      itself, SQL it generates): the core's lint rules read them.
    - `lint_database(connection, step)`: optional; findings that need the target database
      (`validate --dsn`): `connection` is a SQLAlchemy connection in a READ ONLY
      transaction.
    - `rules`: the lint rules `lint` and `lint_database` may find (ids, what, the safe
      way), listed in the reference and accepted by a step's `ignore`.
    - `honours_lock_timeout`: whether the step's `lock_timeout` bounds its waits for locks
      (it runs SQL on the target under it); False: lint warns about a `lock_timeout` given.
    - `reaches_outside`: whether it acts beyond the target database (calls a service,
      runs a program): `migrator rehearse` stands it in and never calls it, and a dry
      run never asks its `preview`.
    - `language`: the language of the text `describe` returns (a Markdown fence's
      language: `sql`, `shell`, `json`), or None for plain text; runbooks highlight it.
    - `pausable`: whether a running step reads the plan's live controls
      (`read_control`) between units of work, so that `migrator pause` and `continue`
      act on it; they refuse a plan whose live run has no such step left.
    - `stand_in(ctx, step)`: optional; what `migrator rehearse` calls instead of `run`
      for a step that changes nothing in the database yet would cost a rehearsal its
      time (a `wait` lets none pass); its memo is kept as `run`'s, its undo is `undo`.
    """

    key: str
    config: Any
    run: Callable[[StepContext, Any], Any]
    describe: Callable[[Any], str]
    undo: Undo | None = None
    options: type[BaseModel] | None = None
    summary: str = ""
    transactional: Callable[[Any], bool] | bool = True
    preview: Callable[[StepContext, Any], str] | None = None
    lint: Callable[[Any], Sequence[str | LintFinding]] | None = None
    sql_texts: Callable[[Any], list[SqlText]] | None = None
    lint_database: Callable[[Any, Any], list[LintFinding]] | None = None
    rules: tuple[LintRule, ...] = ()
    honours_lock_timeout: bool = True
    reaches_outside: bool = False
    language: str | None = None
    pausable: bool = False
    stand_in: Callable[[StepContext, Any], Any] | None = None

    def in_transaction(self, step: Any) -> bool:
        """Whether `step` runs inside the run's transaction (committed with its audit event)."""
        return self.transactional(step) if callable(self.transactional) else self.transactional


@dataclass(frozen=True)
class CheckSpec:
    """A kind of check, selected in a plan by its `key`.

    - `config`: the type of the value under `key`.
    - `expect`: the type of `expect` for this check; None means the generic
      expectation (a value, `"OP VALUE"` or `{equals_query: SQL}`).
    - `expect_required`: whether `expect` must be given.
    - `accepts_expect`: False when the check takes no `expect` at all (`flag_is`,
      `policy_exists` say what they expect in their own keys); `expect` is then an
      unknown key rather than a value silently ignored.
    - `evaluate(ctx, check)`: returns `(passed, actual, expected, detail)` as a
      `CheckOutcome`.
    - `reaches_outside`: whether it asks beyond the target database (a service):
      `migrator rehearse` never evaluates it (it passes as "not asked").
    - `language`: the language of the text `describe` returns, as for actions.
    - `sql_texts(check)`: every SQL text from the plan the check sends, as pairs (the
      path of its field below the check, e.g. `("query",)`, the text); `migrator
      validate` refuses what a check may not send (`migrator.db.checksql`) in each,
      and in an `equals_query` of the generic expectation, which the core finds itself.
      None: the check sends no SQL of the plan's.
    - `writes(check)`: whether the check's SQL may write (an `rls_probe` of an
      INSERT): the engine then opens its transaction read-write (always rolled back);
      a dry run never does. False: the transaction is READ ONLY.
    """

    key: str
    config: Any
    evaluate: Callable[[CheckContext, Any], Any]
    describe: Callable[[Any], str]
    expect: Any = None
    expect_required: bool = True
    accepts_expect: bool = True
    summary: str = ""
    reaches_outside: bool = False
    language: str | None = None
    sql_texts: Callable[[Any], list[tuple[tuple[str | int, ...], str]]] | None = None
    writes: Callable[[Any], bool] | bool = False

    def may_write(self, check: Any) -> bool:
        """Whether `check` needs a read-write transaction (see `writes`)."""
        return self.writes(check) if callable(self.writes) else self.writes


@dataclass(frozen=True)
class PlanKeySpec:
    """A top-level key of a plan that a plugin reads (`notify:`), beside `plan`, `phases`...

    - `key`: the key; `config`: the type of its value (a pydantic model, `list[...]`),
      validated with the rest of the plan, its errors at FILE:LINE:COL.
    - `summary`: one line for the reference.

    The plugin finds the validated value in `CommandInfo.settings[key]` (absent when the
    plan leaves the key out).
    """

    key: str
    config: Any
    summary: str = ""


@dataclass(frozen=True)
class OptionSpec:
    """A command-line option a plugin adds to `apply`, `rollback` and `resume`.

    - `name`: the parameter's name (`metrics_file`), the key of `CommandInfo.options`;
      the option is `--metrics-file` (the name with `-` for `_`).
    - `help`: its help text; `metavar`: what `--help` shows for its value (`PATH`).
    - `envvar`: an environment variable that gives it when the option is not given.
    - `is_flag`: a flag (True when given) instead of an option with a value.

    Values are strings as given (or True for a flag); None when not given. The plugin
    checks them when the command starts (`migrator_command_start`), raising
    `migrator.plugin.UsageError` for a value it cannot use.
    """

    name: str
    help: str
    metavar: str = "TEXT"
    envvar: str | None = None
    is_flag: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _plugin_name(plugin: str, kind: str, name: str) -> None:
    if not PLUGIN_NAME.match(name):
        raise PluginError(
            f"plugin {plugin} registered {kind} {name!r}: write it in lower case, a letter "
            "first, then letters, digits and _"
        )


@dataclass
class Registry:
    """Every action and check kind, plan key and command-line option the loaded plugins
    provide, and who provided it."""

    actions: dict[str, ActionSpec] = field(default_factory=dict)
    checks: dict[str, CheckSpec] = field(default_factory=dict)
    plan_keys: dict[str, PlanKeySpec] = field(default_factory=dict)
    options: dict[str, OptionSpec] = field(default_factory=dict)
    providers: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_action(self, spec: ActionSpec, plugin: str) -> None:
        self._claim("action", spec.key, plugin)
        self.actions[spec.key] = spec

    def add_check(self, spec: CheckSpec, plugin: str) -> None:
        self._claim("check", spec.key, plugin)
        self.checks[spec.key] = spec

    def add_plan_key(self, spec: PlanKeySpec, plugin: str) -> None:
        if spec.key in PLAN_KEYS:
            raise PluginError(
                f"plugin {plugin} registered plan key '{spec.key}', which is migrator's own"
            )
        _plugin_name(plugin, "plan key", spec.key)
        if spec.key.startswith("model_") or hasattr(BaseModel, spec.key):
            raise PluginError(
                f"plugin {plugin} registered plan key '{spec.key}': a name pydantic keeps "
                "for itself (model_*, json, dict, copy, ...): choose another"
            )
        self._claim("plan key", spec.key, plugin)
        self.plan_keys[spec.key] = spec

    def add_option(self, spec: OptionSpec, plugin: str) -> None:
        if spec.name in OPTION_NAMES:
            raise PluginError(
                f"plugin {plugin} registered option {spec.flag}, which is migrator's own"
            )
        _plugin_name(plugin, "option", spec.name)
        self._claim("option", spec.name, plugin)
        self.options[spec.name] = spec

    def _claim(self, kind: str, key: str, plugin: str) -> None:
        what = kind if kind.endswith("key") or kind == "option" else f"{kind} key"
        if not key.isidentifier():
            raise PluginError(f"plugin {plugin} registered {what} {key!r}: not an identifier")
        holder = self.providers.get((kind, key))
        if holder is not None:
            raise PluginError(
                f"{what} '{key}' is registered twice: by plugin {holder} and by plugin {plugin}"
            )
        self.providers[(kind, key)] = plugin

    def describe_undo(self, step: Any) -> str:
        """How `step` is undone, for people: its rollback's text, or its action's default undo."""
        if step.rollback == "irreversible":
            return "irreversible"
        if step.rollback:
            return "\n".join(self.actions[u.action_key].describe(u) for u in step.rollback)
        spec = self.actions[step.action_key]
        if spec.undo is not None:
            doc = (spec.undo.__doc__ or "").strip().splitlines()
            return f"default undo of {step.action_key}" + (f": {doc[0]}" if doc else "")
        return "nothing (no rollback given)"

    def keys_by_plugin(self) -> Mapping[str, list[str]]:
        out: dict[str, list[str]] = {}
        for (kind, key), plugin in sorted(self.providers.items()):
            out.setdefault(plugin, []).append(f"{kind.replace(' ', '_')}:{key}")
        return out
