"""Headless Chromium for the tests that look at pages as a reader does, and the script
that looks (`scripts/check_pages.py`, loaded as a module).

Like PgBouncer (tests/poolers.py), the browser is a Debian package the tests need and
`.ci/run` installs: without it a test is skipped on a developer's machine, with the
command that installs it, and fails under CI (`CI` set), where a skip would hide it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_pages.py"


def _script() -> ModuleType:
    if "check_pages" in sys.modules:
        return sys.modules["check_pages"]
    spec = importlib.util.spec_from_file_location("check_pages", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


pages = _script()


def require_chromium() -> str:
    """The headless Chromium program; skip the test without one (fail it under CI)."""
    found = pages.find_browser()
    if found is None:
        message = f"no headless Chromium on this machine ({pages.INSTALL_HINT}; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(found)
