"""The tests share code through helper modules (tests/helpers.py, tests/plans.py, ...),
never by importing a test module or a conftest: pytest collects those on its own terms,
and a test that imports one runs its module-level code twice under two names."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def imported_test_modules(path: Path) -> list[str]:
    """The test modules and conftests the file at `path` imports, as written."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module and _is_test_module(node.module):
                found.append(module)
            elif not node.module or node.module == "tests" or node.module.startswith("tests."):
                # `from tests.faults import conftest`, `from . import test_x`
                prefix = module if node.module else module[:-1]
                found += [f"{prefix}.{a.name}" for a in node.names if _is_test_module(a.name)]
    return found


def test_no_test_imports_a_test_module_or_a_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): imported
        for path in sorted(TESTS.rglob("*.py"))
        if (imported := imported_test_modules(path))
    }
    assert offenders == {}


def test_the_check_sees_every_way_of_writing_such_an_import(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import tests.unit.test_x\n"
        "from tests.faults.conftest import fresh_database\n"
        "from .test_interruptions import FOUR_STEPS\n"
        "from . import conftest\n"
        "from tests.faults import test_matrix\n"
        "from tests.helpers import query\n"
        "from tests.faults.gates import Gate\n"
    )
    assert imported_test_modules(sample) == [
        "tests.unit.test_x",
        "tests.faults.conftest",
        ".test_interruptions",
        ".conftest",
        "tests.faults.test_matrix",
    ]
