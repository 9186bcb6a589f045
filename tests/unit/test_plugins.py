"""Plugins: discovery through the `migrator` entry-point group, clashes, broken plugins, and
the plugin API itself (hook specifications) as users of `migrator plugins` see it."""

from __future__ import annotations

import inspect
import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import migrator
from migrator import ActionSpec, CheckSpec
from migrator.cli import main
from migrator.errors import PlanError, PluginError
from migrator.plan import load_plan_text
from migrator.plan.model import plan_models
from migrator.plugin import hookspecs
from migrator.plugin.manager import PluginInfo, get_plugin_manager
from tests.sites import Site, installed_site

BUILTINS: dict[str, tuple[list[str], list[str]]] = {
    "backfill": (["backfill"], []),
    "flag": (["flag"], ["flag_is"]),
    "http": (["http"], ["http"]),
    "manual": (["manual"], []),
    "command": (["command"], []),
    "rlsaudit": ([], ["rls_audit"]),
    "policy": (["policy", "rls"], ["policy_exists", "rls_probe"]),
    "sql": (["sql"], ["query"]),
    "wait": (["wait"], []),
    # the plugins that tell the world: a plan key, command-line options, nothing in a plan
    "notify": ([], []),
    "metrics": ([], []),
    "otel": ([], []),
}
# what the plugins that tell the world add beside actions and checks: (plan keys, options)
REPORTERS: dict[str, tuple[list[str], list[str]]] = {
    "notify": (["notify"], []),
    "metrics": ([], ["--metrics-file", "--pushgateway"]),
    "otel": ([], []),
}

THIRDPARTY = '''\
"""A third-party plugin: the `notify` action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

import migrator
from migrator import ActionSpec


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str


def run(ctx: Any, step: Any) -> Any:
    return {"sent_to": step.notify.channel}


def describe(step: Any) -> str:
    return f"post to #{step.notify.channel}"


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    register(
        ActionSpec(
            key="notify",
            config=NotifyConfig,
            run=run,
            describe=describe,
            summary="post a message to a chat channel",
        )
    )
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with installed_site(tmp_path, monkeypatch) as installed:
        yield installed


def spec(key: str) -> ActionSpec:
    return ActionSpec(key=key, config=str, run=lambda ctx, step: None, describe=lambda step: key)


def check_spec(key: str) -> CheckSpec:
    return CheckSpec(key=key, config=str, evaluate=lambda ctx, c: None, describe=lambda c: key)


class Announcer:
    """A plugin object registering one action key (and optionally one check key)."""

    def __init__(self, action: str, check: str | None = None) -> None:
        self.action = action
        self.check = check

    @migrator.hookimpl
    def migrator_register_actions(self, register: Callable[[ActionSpec], None]) -> None:
        register(spec(self.action))

    @migrator.hookimpl
    def migrator_register_checks(self, register: Callable[[CheckSpec], None]) -> None:
        if self.check:
            register(check_spec(self.check))


# -- (a) a third-party plugin, installed like `pip install migrator-thirdparty` ------------

NOTIFY_PLAN = """\
plan: tell-ops
kind: hotfix
steps:
  - name: tell ops
    notify: {}
post_checks:
  - flag_is: {name: F, value: true}
"""


def test_a_third_party_plugin_is_discovered_through_its_entry_point(site: Site) -> None:
    site.install("migrator_thirdparty", THIRDPARTY, {"thirdparty": "migrator_thirdparty"})

    pm = get_plugin_manager()
    registry = pm.build_registry()

    assert "notify" in registry.actions
    assert registry.providers[("action", "notify")] == "thirdparty"
    assert pm.infos["thirdparty"] == PluginInfo("thirdparty", "migrator-thirdparty", "1.2.3")
    assert set(BUILTINS) < set(pm.infos)
    assert {"sql", "flag", "policy", "rls", "backfill", "manual", "http"} < set(registry.actions)


def test_a_third_party_action_validates_like_a_builtin(site: Site) -> None:
    site.install("migrator_thirdparty", THIRDPARTY, {"thirdparty": "migrator_thirdparty"})
    registry = get_plugin_manager().build_registry()

    plan = load_plan_text(NOTIFY_PLAN.replace("{}", "{channel: ops}"), "notify.yaml", registry)
    step = plan.transitions[0].steps[0]
    assert (step.action_key, step.notify.channel) == ("notify", "ops")
    assert registry.actions["notify"].describe(step) == "post to #ops"

    with pytest.raises(PlanError) as caught:
        load_plan_text(NOTIFY_PLAN, "notify.yaml", registry)
    assert [(p.file, p.line, p.column, p.path, p.message) for p in caught.value.problems] == [
        ("notify.yaml", 5, 5, "steps[0].notify", "missing required field 'channel'")
    ]


def test_a_third_party_action_is_in_the_schema_and_the_plugin_list(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.install("migrator_thirdparty", THIRDPARTY, {"thirdparty": "migrator_thirdparty"})
    registry = get_plugin_manager().build_registry()
    schema = json.dumps(plan_models(registry).json_schema())
    assert '"notify"' in schema
    assert "post a message to a chat channel" in schema

    assert main(["plugins", "--output", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["plugins"]}
    assert rows["thirdparty"] == {
        "name": "thirdparty",
        "distribution": "migrator-thirdparty",
        "version": "1.2.3",
        "actions": ["notify"],
        "checks": [],
        "plan_keys": [],
        "options": [],
    }


# -- (b) a plugin that cannot be loaded ----------------------------------------------------

BROKEN_MODULES = {
    "missing dependency": "import kafka_client_that_is_not_installed\n",
    "import error": "raise ImportError('this plugin needs libnotify')\n",
    "syntax error": "def migrator_register_actions(register:\n",
    "error at import": "CHANNELS = {}['default']\n",
}


@pytest.mark.parametrize("case", sorted(BROKEN_MODULES))
def test_a_broken_plugin_is_one_line_naming_it(site: Site, case: str) -> None:
    site.install("migrator_broken", BROKEN_MODULES[case], {"broken": "migrator_broken"})

    with pytest.raises(PluginError) as caught:
        get_plugin_manager()

    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("plugin broken (migrator_broken) failed to load: ")


def test_a_broken_plugin_stops_the_cli_with_one_line(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.install("migrator_broken", BROKEN_MODULES["import error"], {"broken": "migrator_broken"})

    assert main(["plugins"]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: plugin broken (migrator_broken) failed to load: "
        "ImportError: this plugin needs libnotify\n"
    )


def test_plugins_can_be_loaded_without_entry_points(site: Site) -> None:
    site.install("migrator_broken", BROKEN_MODULES["import error"], {"broken": "migrator_broken"})

    pm = get_plugin_manager(load_entrypoints=False)

    assert pm.infos == {}
    assert pm.build_registry().actions == {}


def test_a_hookimpl_with_a_wrong_argument_is_a_plugin_error(site: Site) -> None:
    code = (
        "import migrator\n\n"
        "@migrator.hookimpl\n"
        "def migrator_register_actions(registrar):\n"
        "    pass\n"
    )
    site.install("migrator_misnamed", code, {"misnamed": "migrator_misnamed"})

    with pytest.raises(PluginError, match="misnamed"):
        get_plugin_manager()


# -- (c) two plugins claiming the same key -------------------------------------------------


def test_two_plugins_registering_one_action_key_are_both_named() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Announcer("notify"), "slack")
    pm.register_plugin(Announcer("notify"), "teams")

    with pytest.raises(PluginError) as caught:
        pm.build_registry()

    message = caught.value.message
    assert "'notify'" in message
    assert "plugin slack" in message
    assert "plugin teams" in message


def test_two_plugins_registering_one_check_key_are_both_named() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Announcer("notify", check="delivered"), "slack")
    pm.register_plugin(Announcer("page", check="delivered"), "pagerduty")

    with pytest.raises(PluginError) as caught:
        pm.build_registry()

    message = caught.value.message
    assert "check key 'delivered'" in message
    assert "plugin slack" in message
    assert "plugin pagerduty" in message


def test_an_action_and_a_check_may_share_a_key() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Announcer("notify", check="notify"), "slack")

    registry = pm.build_registry()

    assert registry.providers == {("action", "notify"): "slack", ("check", "notify"): "slack"}


def test_a_plugin_cannot_override_a_builtin_key() -> None:
    pm = get_plugin_manager()
    pm.register_plugin(Announcer("sql"), "shadow")

    with pytest.raises(PluginError) as caught:
        pm.build_registry()

    assert "'sql'" in caught.value.message
    assert "plugin sql" in caught.value.message
    assert "plugin shadow" in caught.value.message


def test_two_installed_distributions_claiming_one_key_are_both_named(site: Site) -> None:
    site.install("migrator_thirdparty", THIRDPARTY, {"thirdparty": "migrator_thirdparty"})
    site.install("migrator_copycat", THIRDPARTY, {"copycat": "migrator_copycat"})

    with pytest.raises(PluginError) as caught:
        get_plugin_manager().build_registry()

    assert "plugin thirdparty" in caught.value.message
    assert "plugin copycat" in caught.value.message


def test_one_name_for_two_plugins_is_an_error() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Announcer("notify"), "slack")

    with pytest.raises(PluginError, match="slack"):
        pm.register_plugin(Announcer("page"), "slack")


def test_an_action_key_must_be_an_identifier() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Announcer("send-mail"), "mailer")

    with pytest.raises(PluginError, match="mailer"):
        pm.build_registry()


def test_an_exception_while_registering_names_the_plugin() -> None:
    class Faulty:
        @migrator.hookimpl
        def migrator_register_actions(self, register: Callable[[ActionSpec], None]) -> None:
            raise RuntimeError("no configuration file")

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Faulty(), "faulty")

    with pytest.raises(PluginError) as caught:
        pm.build_registry()

    assert caught.value.message == (
        "plugin faulty failed to register: RuntimeError: no configuration file"
    )


# -- (d) a hook that does not exist ----------------------------------------------------------


class Nonsense:
    @migrator.hookimpl
    def migrator_nonsense(self) -> None:
        """Not a hook of migrator's."""


def test_a_plugin_implementing_an_unknown_hook_is_an_error() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Nonsense(), "acme-extras")

    with pytest.raises(PluginError) as caught:
        pm.build_registry()

    assert "migrator_nonsense" in caught.value.message
    assert "\n" not in caught.value.message


def test_an_unknown_hook_error_names_the_plugin() -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Nonsense(), "acme-extras")

    with pytest.raises(PluginError) as caught:
        pm.build_registry()

    assert "acme-extras" in caught.value.message
    assert " object at 0x" not in caught.value.message


# -- (e) the plugin API: the hook specifications -------------------------------------------


def hook_specifications() -> dict[str, Callable[..., Any]]:
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "migrator_spec")
    }


def test_the_hook_specifications_are_the_ones_the_manager_knows() -> None:
    specs = hook_specifications()
    pm = get_plugin_manager(load_entrypoints=False)
    known = {name for name in dir(pm.hook) if name.startswith("migrator_")}

    assert set(specs) == known
    assert {
        "migrator_register_actions",
        "migrator_register_checks",
        "migrator_before_step",
        "migrator_after_step",
        "migrator_on_step_error",
    } <= set(specs)


@pytest.mark.parametrize("name", sorted(hook_specifications()))
def test_every_hook_specification_says_what_it_returns(name: str) -> None:
    fn = hook_specifications()[name]
    doc = inspect.getdoc(fn) or ""

    assert doc.strip(), f"{name} has no docstring"
    assert "returns" in doc.lower(), f"{name}'s docstring does not say what it returns"
    if getattr(fn, "migrator_spec", {}).get("firstresult"):
        assert "Stops at the first non-None result" in doc
    assert name.startswith("migrator_")


# -- (f) `migrator plugins` ------------------------------------------------------------------


def test_migrator_plugins_json_lists_the_builtins_and_their_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plugins", "--output", "json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert list(document) == ["plugins"]
    listed = {row["name"]: (row["actions"], row["checks"]) for row in document["plugins"]}
    assert listed == BUILTINS
    added = {row["name"]: (row["plan_keys"], row["options"]) for row in document["plugins"]}
    assert {name: added[name] for name in REPORTERS} == REPORTERS
    for row in document["plugins"]:
        assert (row["distribution"], row["version"]) == ("migrator", migrator.__version__)


def test_migrator_plugins_text_names_every_plugin_and_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plugins"]) == 0

    out = capsys.readouterr().out
    expected = textwrap.dedent(
        f"""\
        policy (migrator {migrator.__version__})
          actions: policy, rls
          checks:  policy_exists, rls_probe
        """
    )
    assert expected in out
    for name in BUILTINS:
        assert f"{name} (migrator {migrator.__version__})" in out


def test_a_plugin_needs_no_base_class() -> None:
    """A plain module-like object with hookimpls is a plugin (the pydantic config is its own)."""

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        to: str

    class Mailer:
        @migrator.hookimpl
        def migrator_register_actions(self, register: Callable[[ActionSpec], None]) -> None:
            register(ActionSpec(key="mail", config=Config, run=lambda c, s: None, describe=str))

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register_plugin(Mailer(), "mailer", "migrator-mail", "0.3")

    registry = pm.build_registry()

    assert list(registry.actions) == ["mail"]
    assert pm.infos["mailer"] == PluginInfo("mailer", "migrator-mail", "0.3")
    plan = load_plan_text(
        "plan: m\nkind: hotfix\nsteps:\n  - mail: {to: ops}\n", "m.yaml", registry
    )
    assert plan.transitions[0].steps[0].mail.to == "ops"


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    import inspect
    from pathlib import Path

    from migrator.plugin import hookspecs

    guide = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    hooks = [
        (name, fn)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("migrator_")
    ]
    assert len(hooks) >= 9
    for name, fn in hooks:
        signature = str(inspect.signature(fn)).replace("'", "")
        assert f"### def {name}{signature}" in guide, f"{name} is not documented as it is"
    documented = {
        line.split("(")[0][len("### def ") :]
        for line in guide.splitlines()
        if line.startswith("### def ")
    }
    assert documented == {name for name, _ in hooks}  # and nothing that does not exist
