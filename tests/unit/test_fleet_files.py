"""Fleet files and targets files that are not what they claim: a device, a FIFO, a huge
file (the masking of a large fleet's many secrets is in tests/unit/test_masking.py)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from migrator.errors import ExitCode, PlanError
from migrator.fleet.model import MAX_FILE_BYTES, load_fleet
from migrator.fleet.targets import resolve_targets
from migrator.masking import Secrets


def targets_error(tmp_path: Path, file: str) -> str:
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(f"fleet: t\ntargets: {{file: {file}}}\n", encoding="utf-8")
    fleet = load_fleet(fleet_file)
    with pytest.raises(PlanError) as raised:
        resolve_targets(fleet, Secrets())
    assert raised.value.exit_code == ExitCode.INVALID
    return str(raised.value)


def test_a_device_is_refused_not_read(tmp_path: Path) -> None:
    assert targets_error(tmp_path, "/dev/zero") == (
        "/dev/zero:1:1: cannot read the targets file: it is not a regular file"
    )


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "targets.yaml"
    os.mkfifo(fifo)
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(targets_error(tmp_path, str(fifo))))
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # it waits for a writer: let it read one and end, then fail
        with fifo.open("w") as writer:
            writer.write("[]\n")
        reader.join()
        pytest.fail("the FIFO was opened and waited on")
    assert found == [f"{fifo}:1:1: cannot read the targets file: it is not a regular file"]


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    assert targets_error(tmp_path, str(huge)) == (
        f"{huge}:1:1: cannot read the targets file: it is over 16 MB"
    )
    fleet = tmp_path / "fleet.yaml"
    with fleet.open("wb") as out:
        out.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(PlanError, match="cannot read the fleet file: it is over 16 MB"):
        load_fleet(fleet)
