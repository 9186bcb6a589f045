"""No module of the core or of the built-in plugins grows past about 400 lines: a module
that long holds more than one job, and is the next one to split (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 420  # "about 400": room for a docstring, not for a second job


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for folder in ("src", "plugins")
        for path in (ROOT / folder).rglob("*.py")
    }
    assert len(sizes) > 100  # the walk found the tree
    assert {path: n for path, n in sizes.items() if n > LIMIT} == {}
