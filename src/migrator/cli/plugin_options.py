"""The options plugins add to `apply`, `rollback` and `resume` (`OptionSpec`: `--metrics-file`).

They are read from the installed plugins only when one of those commands parses its
arguments or shows its help, so `migrator --help` loads no plugin."""

from __future__ import annotations

from typing import Any

import click

_LOADED = "migrator.plugins"  # ctx.meta: (the plugin manager, its registry), loaded once
_GIVEN = "migrator.plugin_options"  # ctx.meta: the names of the plugins' options


class PluginOptionsCommand(click.Command):
    """A command that also takes the options the installed plugins register."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        own = [p for p in params if p in self.params]
        rest = [p for p in params if p not in self.params]  # --help, last
        return [*own, *_plugin_params(ctx), *rest]


def _plugin_params(ctx: click.Context) -> list[click.Parameter]:
    from migrator.plugin.manager import get_plugin_manager

    meta = ctx.find_root().meta
    if _LOADED not in meta:
        manager = get_plugin_manager()
        meta[_LOADED] = (manager, manager.build_registry())
    registry = meta[_LOADED][1]
    meta[_GIVEN] = tuple(registry.options)
    return [
        click.Option(
            [spec.flag, spec.name],  # the name: the parameter's, the key of the options
            help=spec.help,
            metavar=None if spec.is_flag else spec.metavar,
            envvar=spec.envvar,
            show_envvar=spec.envvar is not None,
            is_flag=spec.is_flag,
            default=None,
        )
        for spec in registry.options.values()
    ]


def take_plugin_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The plugin manager, its registry and the plugins' option values the command was
    given, taken out of `kwargs` (the rest are migrator's own), as `Context` fields."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}
    meta = ctx.find_root().meta
    names = meta.get(_GIVEN, ())
    values = {name: kwargs.pop(name, None) for name in names}
    if _LOADED not in meta:
        return {}
    manager, registry = meta[_LOADED]
    return {"plugin_manager": manager, "registry": registry, "plugin_options": values}
