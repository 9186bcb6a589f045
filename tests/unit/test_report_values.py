"""A report shows an HTTP answer's fields the expectation names first, so that a long
answer cut to its width keeps the keys that differ."""

from __future__ import annotations

from migrator.views.report_markdown import VALUE_WIDTH, _named_first
from migrator.views.values import shown


def test_the_expectations_keys_come_first_and_survive_the_cut() -> None:
    actual = {"aaa": "x" * 300, "body": {"filler": "y" * 50, "state": "down"}, "status": 503}
    expected = {"status": 200, "body": {"state": "up"}}
    ordered = _named_first(actual, expected)
    assert list(ordered) == ["status", "body", "aaa"]
    assert list(ordered["body"]) == ["state", "filler"]
    line = shown(ordered, VALUE_WIDTH)
    assert line.startswith('{"status": 503, "body": {"state": "down"'), line
    assert _named_first("text", expected) == "text"
    assert _named_first(actual, "'up'") is actual
