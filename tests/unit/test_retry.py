"""The one retry loop (migrator.db.retry): attempts, reasons, pauses, giving up."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from migrator.db.retry import NO_PAUSE, Backoff, any_of, conflict, retry


class Flaky(Exception):
    pass


def _flaky_until(
    succeeds_at: int, error: type[Exception] = Flaky
) -> tuple[list[int], Callable[[int], str]]:
    calls: list[int] = []

    def work(attempt: int) -> str:
        calls.append(attempt)
        if attempt < succeeds_at:
            raise error(f"attempt {attempt}")
        return "done"

    return calls, work


def _flaky(exc: BaseException) -> str | None:
    return "flaky" if isinstance(exc, Flaky) else None


def test_a_transient_failure_is_retried_with_doubling_pauses_up_to_the_ceiling() -> None:
    calls, work = _flaky_until(5)
    pauses: list[float] = []
    retried: list[tuple[int, str | None, float]] = []

    def pause_for(seconds: float) -> bool:
        pauses.append(seconds)  # recorded instead of slept
        return True

    result = retry(
        work,
        transient=_flaky,
        retries=5,
        backoff=Backoff(0.5, 1.5),
        on_retry=lambda n, exc, reason, pause: retried.append((n, reason, pause)),
        wait=pause_for,
    )
    assert result == "done"
    assert calls == [1, 2, 3, 4, 5]
    assert pauses == [0.5, 1.0, 1.5, 1.5]
    assert retried == [(1, "flaky", 0.5), (2, "flaky", 1.0), (3, "flaky", 1.5), (4, "flaky", 1.5)]


def test_it_gives_up_after_the_allowed_retries_and_raises_the_last_failure() -> None:
    calls, work = _flaky_until(10)
    given_up: list[int] = []
    with pytest.raises(Flaky, match="attempt 4"):
        retry(
            work,
            transient=_flaky,
            retries=3,
            on_give_up=lambda n, exc: given_up.append(n),
        )
    assert calls == [1, 2, 3, 4]
    assert given_up == [4]


def test_a_failure_that_is_not_transient_is_not_retried_unless_the_count_says_so() -> None:
    calls, work = _flaky_until(3, error=ValueError)
    with pytest.raises(ValueError):
        retry(work, transient=_flaky, retries=5)
    assert calls == [1]
    calls, work = _flaky_until(3, error=ValueError)
    assert retry(work, transient=_flaky, retries=lambda reason: 2) == "done"
    assert calls == [1, 2, 3]


def test_on_failure_sees_every_failure_even_the_last() -> None:
    _, work = _flaky_until(10)
    seen: list[str | None] = []
    with pytest.raises(Flaky):
        retry(
            work,
            transient=_flaky,
            retries=1,
            on_failure=lambda exc, reason: seen.append(reason),
        )
    assert seen == ["flaky", "flaky"]


def test_a_wait_that_says_no_gives_up_with_the_failure() -> None:
    calls, work = _flaky_until(10)
    with pytest.raises(Flaky, match="attempt 1"):
        retry(work, transient=_flaky, retries=5, backoff=Backoff(1.0, 1.0), wait=lambda p: False)
    assert calls == [1]


def test_without_a_pause_nothing_waits() -> None:
    _, work = _flaky_until(3)

    def never(pause: float) -> bool:
        raise AssertionError("waited")

    assert retry(work, transient=_flaky, retries=3, backoff=NO_PAUSE, wait=never) == "done"


def test_reasons_combine_and_name_the_server_s_conflicts() -> None:
    class Orig:
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    class DriverError(Exception):
        def __init__(self, sqlstate: str) -> None:
            self.orig = Orig(sqlstate)

    assert conflict(DriverError("40P01")) == "deadlock"
    assert conflict(DriverError("40001")) == "serialization failure"
    assert conflict(DriverError("23505")) is None
    reason = any_of(_flaky, conflict)
    assert reason(Flaky()) == "flaky"
    assert reason(DriverError("40001")) == "serialization failure"
    assert reason(ValueError()) is None


def test_pauses_stay_finite_after_very_many_attempts() -> None:
    assert Backoff(0.25, 2.0).pause(5000) == 2.0
