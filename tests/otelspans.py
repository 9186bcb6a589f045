"""The spans the `otel` plugin made in this test process: the OpenTelemetry SDK's
in-memory exporter behind a SimpleSpanProcessor, set once as the global TracerProvider
(OpenTelemetry lets a process set it once), emptied for each test."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_exporter: InMemorySpanExporter | None = None

# a W3C traceparent as a CI job hands it on: its trace id and the job's span id
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def memory_exporter() -> InMemorySpanExporter:
    """The in-memory exporter of the global TracerProvider, emptied."""
    global _exporter
    if _exporter is None:
        provider = TracerProvider()
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        assert trace.get_tracer_provider() is provider, "another TracerProvider was set first"
        _exporter = exporter
    _exporter.clear()
    return _exporter


class Spans:
    """Finished spans, by name and by parent."""

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.all = list(spans)

    def named(self, name: str) -> ReadableSpan:
        [span] = [s for s in self.all if s.name == name]
        return span

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        assert parent.context is not None
        return sorted(
            (s for s in self.all if s.parent and s.parent.span_id == parent.context.span_id),
            key=lambda s: (s.start_time or 0, s.end_time or 0),
        )

    def names(self, parent: ReadableSpan) -> list[str]:
        return [s.name for s in self.children(parent)]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def status(span: ReadableSpan) -> tuple[str, str | None]:
    return span.status.status_code.name, span.status.description
