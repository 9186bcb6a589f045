"""Third-party plugins installed at test time: a directory on sys.path holding packages
and their dist-info (entry points in the `migrator` group), as pip would leave them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


class Site:
    """A directory on sys.path holding installed distributions, as pip would leave them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def install(
        self,
        module: str,
        code: str,
        entry_points: dict[str, str],
        *,
        name: str | None = None,
        version: str = "1.2.3",
    ) -> None:
        package = self.root / module
        package.mkdir()
        (package / "__init__.py").write_text(code)
        dist = name or module.replace("_", "-")
        info = self.root / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[migrator]\n{lines}")
        self.modules.append(module)
        importlib.invalidate_caches()


@contextmanager
def installed_site(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A `Site` at `root`, first on sys.path; its modules are forgotten at the end."""
    root.mkdir(parents=True, exist_ok=True)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    installed = Site(root)
    try:
        yield installed
    finally:
        for module in installed.modules:
            sys.modules.pop(module, None)
        importlib.invalidate_caches()
