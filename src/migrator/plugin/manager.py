"""The plugin manager: discovery through the `migrator` entry-point group, and the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from migrator.errors import PluginError
from migrator.plugin import hookspecs
from migrator.plugin.registry import ActionSpec, CheckSpec, OptionSpec, PlanKeySpec, Registry

ENTRY_POINT_GROUP = "migrator"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__("migrator")
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}

    def register_plugin(
        self, plugin: Any, name: str, distribution: str = "-", version: str = "-"
    ) -> None:
        try:
            self.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:  # a hook that does not match its spec
            first = str(exc).strip().splitlines()[0]
            raise PluginError(f"plugin {name} does not fit the plugin API: {first}") from None
        except ValueError as exc:  # a second plugin under the same name
            raise PluginError(f"plugin {name}: {exc}") from None
        self.infos[name] = PluginInfo(name, distribution, version)

    def load_entrypoints(self) -> None:
        """Load every `migrator` entry point on its own: a broken one is one clear line."""
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
                ) from None
            dist = ep.dist
            self.register_plugin(
                plugin,
                ep.name,
                dist.metadata["Name"] if dist else "-",
                dist.version if dist else "-",
            )

    def build_registry(self) -> Registry:
        """Ask every plugin for its actions and checks; a key claimed twice names both plugins."""
        for hook_name, caller in vars(self.hook).items():
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if not impl.opts.get("optionalhook"):
                    raise PluginError(
                        f"plugin {impl.plugin_name} implements {hook_name}, which is not a "
                        "migrator hook (see migrator.hookspecs)"
                    )
        registry = Registry()
        for impl in self.hook.migrator_register_actions.get_hookimpls():
            name = impl.plugin_name

            def add_action(spec: ActionSpec, _plugin: str = name) -> None:
                registry.add_action(spec, _plugin)

            _call(impl, name, register=add_action)
        for impl in self.hook.migrator_register_checks.get_hookimpls():
            name = impl.plugin_name

            def add_check(spec: CheckSpec, _plugin: str = name) -> None:
                registry.add_check(spec, _plugin)

            _call(impl, name, register=add_check)
        for impl in self.hook.migrator_register_plan_keys.get_hookimpls():
            name = impl.plugin_name

            def add_plan_key(spec: PlanKeySpec, _plugin: str = name) -> None:
                registry.add_plan_key(spec, _plugin)

            _call(impl, name, register=add_plan_key)
        for impl in self.hook.migrator_register_options.get_hookimpls():
            name = impl.plugin_name

            def add_option(spec: OptionSpec, _plugin: str = name) -> None:
                registry.add_option(spec, _plugin)

            _call(impl, name, register=add_option)
        return registry


def call_each(
    caller: pluggy.HookCaller, failed: Callable[[str, Exception], None], **kwargs: Any
) -> None:
    """Call every implementation of a hook that returns nothing on its own, in pluggy's
    order (the newest registered first, `tryfirst` and `trylast` honoured): one that
    raises is handed to `failed` with its plugin's name, and the others are still called
    (pluggy itself stops at the first exception). A hook with a wrapper is called as
    pluggy calls it, whole."""
    impls = caller.get_hookimpls()
    if any(impl.hookwrapper or impl.wrapper for impl in impls):
        try:
            caller(**kwargs)
        except Exception as exc:
            failed("a plugin", exc)
        return
    for impl in reversed(impls):
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            failed(impl.plugin_name, exc)


def _call(impl: pluggy.HookImpl, name: str, **kwargs: Any) -> None:
    try:
        impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {name} failed to register: {type(exc).__name__}: {exc}"
        ) from None


def get_plugin_manager(load_entrypoints: bool = True) -> PluginManager:
    """A fresh plugin manager with the hook specifications, and the installed plugins."""
    pm = PluginManager()
    if load_entrypoints:
        pm.load_entrypoints()
    return pm


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of the installed plugins, built once per process."""
    global _default
    if _default is None:
        _default = get_plugin_manager().build_registry()
    return _default
