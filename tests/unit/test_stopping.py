"""How a run takes SIGINT and SIGTERM (engine.stopping), the handler called as the signal
would call it: the first asks for a stop, the second stops at once unless the stop is being
recorded, a question to a person ends at the first."""

from __future__ import annotations

import signal
import threading

import pytest

from migrator.engine.stopping import StopAtOnce, StopRequest, StopRequested
from migrator.errors import ExitCode


def test_the_first_signal_asks_for_a_stop_at_the_next_safe_point() -> None:
    stop = StopRequest()
    stop.check("step one")  # nothing asked: goes on
    stop._handle(signal.SIGTERM, None)
    assert stop.requested() and stop.wait(10)  # no waiting once asked
    assert stop.exit_code == ExitCode.SIGTERM == 143
    with pytest.raises(StopRequested, match="stopped before step two"):
        stop.check("step two")


def test_the_second_signal_stops_at_once_unless_the_stop_is_being_recorded() -> None:
    stop = StopRequest()
    stop._handle(signal.SIGINT, None)
    with stop.shielded():
        stop._handle(signal.SIGINT, None)  # the record of the stop is not broken into
    stop = StopRequest()
    stop._handle(signal.SIGINT, None)
    with pytest.raises(StopAtOnce):
        stop._handle(signal.SIGINT, None)
    assert stop.exit_code == ExitCode.SIGINT == 130


def test_a_question_ends_at_the_first_signal_or_is_not_asked_after_one() -> None:
    stop = StopRequest()
    with pytest.raises(StopAtOnce), stop.prompting():
        stop._handle(signal.SIGINT, None)
    with pytest.raises(StopAtOnce), stop.prompting():
        pytest.fail("asked after a stop was requested")


def test_handlers_are_installed_for_the_run_and_restored_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = StopRequest()
    with stop.handling():
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        assert signal.getsignal(signal.SIGINT) == stop._handle
    assert signal.getsignal(signal.SIGTERM) == before


def test_outside_the_main_thread_nothing_is_installed() -> None:
    stop = StopRequest()
    seen: list[object] = []

    def run() -> None:
        with stop.handling():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen and seen[0] != stop._handle
