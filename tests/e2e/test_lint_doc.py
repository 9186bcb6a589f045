"""docs/lint.md's table of rules is what the rules say today: regenerated, it is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.views.lintrules import REGENERATE, rule_table, with_table
from migrator.views.reference import builtin_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "lint.md"


def test_the_rule_table_is_generated_from_the_rules() -> None:
    registry = builtin_registry()
    written = DOC.read_text()
    assert written == with_table(written, registry), (
        f"docs/lint.md's table of rules is out of date: run `{REGENERATE}` and commit it"
    )
    for rule in ("undefined-bind-variable", "transaction-nesting", "no-undo"):
        assert f"| `{rule}` |" in rule_table(registry)


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        with_table("# Lint\n", builtin_registry())
