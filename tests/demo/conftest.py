"""The demo database in a test's fresh database, and the scoring app on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.helpers import DEMO_SERVICE_KEY


@pytest.fixture
def demo_db(database: str) -> str:
    """The test's database loaded with the demo's schema and 400 sessions (IR-07 broken)."""
    from migrator.demo import generate

    generate.load(database, sessions=400)
    return database


@dataclass
class App:
    url: str
    process: subprocess.Popen[str]


@pytest.fixture
def start_app(demo_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., App]]:
    """Start the scoring app (optionally with traffic) on a free port; stopped afterwards."""
    monkeypatch.setenv("SERVICE_ROLE_KEY", DEMO_SERVICE_KEY)
    started: list[App] = []

    def start(traffic: float = 0.0) -> App:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "migrator.demo.app",
                "--dsn",
                demo_db,
                "--traffic",
                str(traffic),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "SERVICE_ROLE_KEY": DEMO_SERVICE_KEY},
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        app = App(json.loads(first)["url"], proc)
        started.append(app)
        return app

    yield start
    for app in started:
        app.process.terminate()
        app.process.wait(10)
