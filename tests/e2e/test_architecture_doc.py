"""docs/architecture.md names what exists: every module and path it names is there, and
every package of src/migrator is named in it."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)", re.S)
TOP = ("src/", "plugins/", "tests/", "features/", "benchmarks/", "docs/", "plans/")


def spans() -> list[str]:
    text = re.sub(r"^```.*?^```", "", DOC.read_text(encoding="utf-8"), flags=re.M | re.S)
    return [" ".join(s.split()) for s in SPAN.findall(text)]


def resolves(dotted: str) -> bool:
    """`migrator.a.b` is a module, or a module and attributes of it (`...runner.Runner`)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        if end == len(parts):
            return True
        value: object = importlib.import_module(name)
        for attribute in parts[end:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


def test_every_module_named_exists() -> None:
    named = {m.group(0) for s in spans() if (m := re.match(r"migrator(?:\.\w+)+", s))}
    assert len(named) > 20
    missing = sorted(n for n in named if not resolves(n))
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_path_named_exists() -> None:
    paths = {s for s in spans() if s.startswith(TOP) and " " not in s and "*" not in s}
    assert len(paths) > 20
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_files_named_in_a_packages_row_are_in_that_package() -> None:
    missing = []
    for row in DOC.read_text(encoding="utf-8").splitlines():
        cells = row.split(" | ")
        first = re.match(r"\| `((?:src/migrator|plugins)/\w+/)`", cells[0])
        if first is None or len(cells) < 2:
            continue
        package = ROOT / first.group(1)
        for name in re.findall(r"`(\w+\.py)`", cells[1]):
            if not (package / name).exists():
                missing.append(f"{first.group(1)}{name}")
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_package_and_top_level_module_is_named() -> None:
    named = set(spans())
    src = ROOT / "src" / "migrator"
    packages = {f"src/migrator/{p.parent.name}/" for p in src.glob("*/__init__.py")}
    modules = {f"src/migrator/{p.name}" for p in src.glob("*.py") if p.name != "__init__.py"}
    plugins = {f"plugins/{p.parent.name}/" for p in (ROOT / "plugins").glob("*/__init__.py")}
    missing = sorted((packages | modules | plugins) - named)
    assert not missing, f"docs/architecture.md does not name {missing}"
