"""Scenarios of features/locking, run for real against PostgreSQL."""

import os
import signal
from typing import Any

from pytest_bdd import given, parsers, scenarios

scenarios("locking")


@given(parsers.parse("{operator}'s process is frozen"))
def _(operator: str, world: dict[str, Any]) -> None:
    """SIGSTOP: the process neither works nor dies; its sessions stay open. The scenario's
    end kills it (SIGKILL ends a stopped process too)."""
    os.kill(world["others"][operator].pid, signal.SIGSTOP)
