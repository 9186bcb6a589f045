"""docs/reference.md is what the plugins' specs say today: regenerated, it is the same file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from migrator.plan.model import COMMON_CHECK_KEYS, COMMON_STEP_KEYS
from migrator.views.reference import REGENERATE, builtin_registry, render_reference

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"


def test_the_reference_is_generated_from_the_plugins_specs() -> None:
    registry = builtin_registry()
    written = REFERENCE.read_text(encoding="utf-8")

    assert written == render_reference(registry), (
        f"docs/reference.md is out of date: run `{REGENERATE}` and commit it"
    )
    assert registry.actions and registry.checks
    for key in registry.actions:
        assert f"### `{key}`" in written.split("## Checks")[0]
    for key in registry.checks:
        assert f"### `{key}`" in written.split("## Checks")[1]
    step = written.split("## Step\n")[1].split("## Check\n")[0]
    check = written.split("## Check\n")[1].split("## Actions\n")[0]
    assert all(f"| `{key}` |" in step for key in COMMON_STEP_KEYS)
    assert all(f"| `{key}` |" in check for key in COMMON_CHECK_KEYS)


def test_the_regenerate_command_writes_it() -> None:
    module = REGENERATE.split()[2]
    done = subprocess.run(
        [sys.executable, "-m", module], capture_output=True, text=True, check=True, cwd=ROOT
    )

    assert done.stdout == REFERENCE.read_text(encoding="utf-8")
