"""The wheel, built once per test session as a release would build it (`python -m build`),
for the tests that install it (tests/e2e/test_wheel.py) or resolve its dependencies
(tests/e2e/test_install_matrix.py).

Built from a copy of the tracked files (`git ls-files`, as they are in the work tree), so
the repository gets no build/ or *.egg-info, and a file git does not know (that a clone,
and so CI, would not have) cannot make a test pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Wheel:
    path: Path
    source: Path  # the copy it was built from
    tracked: list[str]


def run(
    argv: list[str | Path | int],
    timeout: float,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """A bounded subprocess, its output captured through communicate() (the sweep reads it)."""
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def tail(proc: subprocess.CompletedProcess[str], lines: int = 60) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-lines:])


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout
    return [os.fsdecode(name) for name in listed.split(b"\0") if name]


def _copy_tracked(dest: Path) -> list[str]:
    """The tracked files as they are in the work tree (symlinks kept), under `dest`."""
    copied = []
    for rel in _tracked_files():
        source = ROOT / rel
        if not os.path.lexists(source):
            continue  # deleted in the work tree, not yet committed
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
        copied.append(rel)
    return copied


def _build_litter() -> set[Path]:
    return {
        path
        for pattern in ("build", "dist", "*.egg-info", "src/*.egg-info", "plugins/*.egg-info")
        for path in ROOT.glob(pattern)
    }


def build_wheel(workdir: Path) -> Wheel:
    """Build the wheel from a copy of the tracked files, in `workdir`."""
    litter_before = _build_litter()
    source = workdir / "source"
    tracked = _copy_tracked(source)
    dist = workdir / "dist"
    built = run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", dist, source],
        timeout=600,
        cwd=workdir,
    )
    assert built.returncode == 0, tail(built)
    wheels = sorted(dist.glob("migrator-*.whl"))
    assert len(wheels) == 1, (wheels, tail(built))
    assert _build_litter() == litter_before  # the build happened in the copy only
    return Wheel(wheels[0], source, tracked)
