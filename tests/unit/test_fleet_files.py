"""Fleet files and targets files that are not what they claim: a device, a FIFO, a huge
file; and masking with the many secrets of a large fleet."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- masking with many secrets ---------------------------------------------------------------


def replaced_longest_first(values: set[str], text: str) -> str:
    """What masking has always been: every form replaced, longest first."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text("ab*x", min_size=3, max_size=7), max_size=60),
    texts=st.lists(st.text("ab*xy", max_size=40), min_size=1, max_size=5),
)
def test_masking_finds_exactly_what_replacing_every_form_finds(
    secrets: list[str], texts: list[str]
) -> None:
    known = Secrets()
    for secret in secrets:
        known.add(secret)
        for text in texts:  # masking between adds: the index is rebuilt after each
            assert known.mask(text) == replaced_longest_first(known._values, text)
            assert (text in known) == any(v in text for v in known._values)


@pytest.mark.parametrize("many", [0, 40])
def test_a_form_completed_by_an_earlier_mask_is_masked_too(many: int) -> None:
    known = Secrets()
    for i in range(many):  # past the few keys searched one by one
        known.add(f"{i:03d}-other")  # each its own first characters
    known.add("aaaaa")
    known.add("x***")
    assert known.mask("xaaaaa y") == "*** y"


def test_masking_a_large_fleet_costs_what_its_texts_hold() -> None:
    known = Secrets()
    for i in range(4000):
        known.add(f"postgresql://t{i}:pw{i:05d}x@db/t{i}?password=***&options=-c%20a%3D{i}")
        known.add(f"pw{i:05d}x")
        known.add(f"{i:04d}tok")  # secrets of many different first characters
    document = [{"name": f"tenant-{i}", "error": f"no pw{i:05d}x here"} for i in range(4000)]
    masked = known.mask_data(document)
    assert masked[7] == {"name": "tenant-7", "error": "no *** here"}
    assert known.mask("a 0123tok b 3999tok") == "a *** b ***"
    text = "x postgresql://t9:pw00009x@db/t9?password=***&options=-c%20a%3D9 y"
    assert known.mask(text) == "x *** y"
    assert known.mask("ends with pw00009x") == "ends with ***"  # the last characters too
    assert known.mask("pw0") == "pw0" and "pw00009x" in known
    known.add("zq9")  # a secret as short as the index's keys, at the very end
    assert known.mask("ends zq9") == "ends ***"
    assert known.mask(text) == replaced_longest_first(known._values, text)
