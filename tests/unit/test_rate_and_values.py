"""The one rate (a recent window) and values as values."""

from __future__ import annotations

import datetime
from decimal import Decimal
from uuid import UUID

from migrator.views.rate import RateWindow
from migrator.views.values import plain, shown


def test_the_rate_is_over_the_recent_window_not_since_the_start() -> None:
    window = RateWindow(window=10.0)
    for second in range(0, 21):  # 100 rows a second for 20 s ...
        window.add(float(second), second * 100)
    for second in range(21, 41):  # ... then 10 rows a second
        window.add(float(second), 2000 + (second - 20) * 10)
    assert window.rate() == 10.0  # an average since the start would say 55


def test_a_pause_shows_as_a_falling_rate_and_no_time_left() -> None:
    window = RateWindow(window=10.0)
    for second in range(0, 11):
        window.add(float(second), second * 50)
    assert window.rate() == 50.0
    assert window.seconds_left(1000, 500) == 10.0
    assert window.rate(now=15.0) == 250 / 10.0  # half the window without rows
    assert window.rate(now=30.0) == 0.0
    assert window.seconds_left(1000, 500, now=30.0) is None


def test_no_rate_before_two_samples() -> None:
    window = RateWindow()
    assert window.rate() is None
    window.add(5.0, 10)
    assert window.rate() is None
    assert window.seconds_left(100, 10) is None


def test_values_are_shown_as_values_not_python_reprs() -> None:
    session = UUID("cb7aa4f6-0000-4000-8000-000000000001")
    row = {"session": session, "confidence": Decimal("0.724"), "count": Decimal("12")}
    assert shown(row) == (
        '{"session": "cb7aa4f6-0000-4000-8000-000000000001", "confidence": 0.724, "count": 12}'
    )
    assert plain(Decimal("12345678901234567890.123")) == "12345678901234567890.123"
    when = datetime.datetime(2026, 12, 5, 3, 0, tzinfo=datetime.UTC)
    assert shown(when) == "2026-12-05T03:00:00+00:00"
    assert shown(None) == "NULL"
    assert shown(b"\x00\xff") == "\\x00ff"


def test_long_values_are_cut_to_the_width_with_a_mark() -> None:
    text = shown({"json": "x" * 500}, width=40)
    assert len(text) == 40
    assert text.endswith("…")
    assert shown("two\nlines") == "two\\nlines"
