"""Scenarios of features/integrations/traces.feature: the spans `migrator apply` made in
process, read from the OpenTelemetry SDK's in-memory exporter (tests/otelspans.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then

from tests.otelspans import PARENT_ID, TRACE_ID, TRACEPARENT, Spans, attrs, memory_exporter, status

scenarios("integrations/traces.feature")

SETTINGS = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "TRACEPARENT",
    "TRACESTATE",
)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Any:
    """No OTEL_* setting yet; the spans made so far."""
    exporter = memory_exporter()
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return lambda: Spans(exporter.get_finished_spans())


@given("the CI job's trace is handed on in TRACEPARENT")
def _(spans: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)


@then(parsers.parse('the span "{name}" is a child of the CI job\'s span'))
def _(name: str, spans: Any) -> None:
    span = spans().named(name)
    assert span.parent is not None and span.context is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert format(span.context.trace_id, "032x") == TRACE_ID


@then(parsers.parse('the span "{name}" holds "{children}"'))
def _(name: str, children: str, spans: Any) -> None:
    tree = spans()
    assert tree.names(tree.named(name)) == children.split(", ")


@then(parsers.parse('the span "{name}" has "{key}" = "{value}"'))
def _(name: str, key: str, value: str, spans: Any) -> None:
    assert str(attrs(spans().named(name))[key]) == value


@then(parsers.parse('the span "{name}" has "{key}" = "{value}" and "{key2}" = "{value2}"'))
def _(name: str, key: str, value: str, key2: str, value2: str, spans: Any) -> None:
    found = attrs(spans().named(name))
    assert (str(found[key]), str(found[key2])) == (value, value2)


@then(parsers.parse('the span "{name}" failed with "{text}"'))
def _(name: str, text: str, spans: Any) -> None:
    code, message = status(spans().named(name))
    assert code == "ERROR" and text in (message or ""), (code, message)


@then("no span was made")
def _(spans: Any) -> None:
    assert spans().all == []
