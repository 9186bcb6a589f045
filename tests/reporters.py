"""A library call's `Context` with the installed plugins and more of a test's own: how the
tests of the reporting hooks (notify, metrics, traces, a third party's) run a command in
process."""

from __future__ import annotations

import io
from typing import Any

from migrator import api
from migrator.plugin.manager import get_plugin_manager


def plugin_context(
    database: str, plugins: dict[str, Any] | None = None, operator: str = "dora", **options: Any
) -> api.Context:
    """A Context on `database` whose plugin manager has the installed plugins and
    `plugins` (by name: the name a hook's failure is recorded under), the command-line
    options of the plugins given as `options` (the others not given), output kept."""
    pm = get_plugin_manager()
    for name, plugin in (plugins or {}).items():
        pm.register_plugin(plugin, name)
    registry = pm.build_registry()
    return api.Context(
        out=io.StringIO(),
        err=io.StringIO(),
        dsn=database,
        plugin_manager=pm,
        registry=registry,
        operator=operator,
        plugin_options={**dict.fromkeys(registry.options), **options},
    )
