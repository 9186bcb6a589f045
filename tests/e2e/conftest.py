"""The wheel, built once per session for every end-to-end test that needs it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.wheels import Wheel, build_wheel


@pytest.fixture(scope="session")
def wheel() -> Iterator[Wheel]:
    """The built wheel (in a temporary folder outside the session's pytest folder)."""
    workdir = Path(tempfile.mkdtemp(prefix="mg-build-"))
    yield build_wheel(workdir)
    shutil.rmtree(workdir, ignore_errors=True)
