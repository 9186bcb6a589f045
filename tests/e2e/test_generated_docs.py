"""docs/plans holds the runbook and diagram of every shipped plan, exactly as generated now."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from migrator import api

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "migrator docs plans/*.yaml --out docs/plans"


def generate(into: Path) -> dict[str, str]:
    """What `REGENERATE`, run at the repository's root, writes: file name -> text."""
    plans = sorted(f"plans/{p.name}" for p in (ROOT / "plans").glob("*.yaml"))
    if plans:
        sink = io.StringIO()
        code = api.docs(api.Context(out=sink, err=sink), plans, out_dir=into)
        assert code == 0, sink.getvalue()
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(into.glob("*"))}


def test_docs_plans_match_the_plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the runbooks name their plan files as `plans/NAME.yaml`
    expected = generate(tmp_path)
    folder = ROOT / "docs" / "plans"
    present = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*"))}

    missing = sorted(set(expected) - set(present))
    stale = sorted(set(present) - set(expected))
    changed = sorted(n for n in set(expected) & set(present) if expected[n] != present[n])
    assert not (missing or stale or changed), (
        f"docs/plans is out of date (missing: {missing}, not generated from any plan: "
        f"{stale}, different: {changed}): regenerate it at the repository's root with "
        f"`{REGENERATE}` (and delete the files of plans that are gone)"
    )


def test_each_shipped_plan_has_a_runbook_and_a_diagram() -> None:
    names = {p.stem for p in (ROOT / "docs" / "plans").glob("*.md")}
    diagrams = {p.stem for p in (ROOT / "docs" / "plans").glob("*.mmd")}
    assert names == diagrams
    for name in names:
        runbook = (ROOT / "docs" / "plans" / f"{name}.md").read_text(encoding="utf-8")
        diagram = (ROOT / "docs" / "plans" / f"{name}.mmd").read_text(encoding="utf-8")
        assert runbook.startswith(f"# Runbook: {name.replace('_', chr(92) + '_')}\n")
        assert f"```mermaid\n{diagram}```" in runbook
