"""The spans of one traced command: the command's, under the `TRACEPARENT` of the
environment; a run's (a transition) under it; a step's, a check's and an undo's under
their run, made from the run's events as they are told (`migrator_event`).

Every span open when the command ends (a run stopped by a signal, a database lost) is
ended then, with status ERROR and outcome `interrupted`. Every text in a span is masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import migrator
from migrator.plugin import CommandInfo, ProgressReport, RunEvent, RunInfo

FLUSH_SECONDS = 5.0  # the longest the end of a command waits for its spans to go out
EXPORT_SECONDS = 4.0  # an export's timeout, unless OTEL_EXPORTER_OTLP_*TIMEOUT says
ENDS = frozenset({"succeeded", "failed", "undone", "undo_failed", "interrupted"})
VALUE_CHARS = 256  # a check's actual and expected values, as attributes, cut to this

# the provider this plugin made, once per process (None: not made yet)
_own: TracerProvider | None = None
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_USERINFO = re.compile(r"(?<=://)[^/\s@'\"]+@")
_QUERY = re.compile(r"\?[^\s'\"()]+")


class _Masked(logging.Filter):
    """OpenTelemetry's own log lines (a failed export names its endpoint's URL) with the
    URL's user info and query cut and the current command's secrets masked."""

    mask: Callable[[str], str] = staticmethod(lambda text: text)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = self.mask(_QUERY.sub("?***", _USERINFO.sub("***@", text))), ()
        return True


_FILTER = _Masked()


def _guard_logs() -> None:
    """`_FILTER` on every logger of OpenTelemetry's (made when its modules were imported)."""
    names = [n for n in logging.Logger.manager.loggerDict if n.startswith("opentelemetry")]
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _endpoint_secrets(command: CommandInfo) -> None:
    """The user info and query of the OTLP endpoints, and the headers' values, secrets."""
    from urllib.parse import unquote

    for name in ENDPOINTS:
        url = os.environ.get(name, "")
        userinfo = url.partition("://")[2].split("/", 1)[0].rpartition("@")[0]
        query = url.partition("?")[2]
        found = [userinfo, userinfo.partition(":")[2], query]
        found += [part.partition("=")[2] for part in query.split("&")]
        for headers in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
            found += [h.partition("=")[2].strip() for h in os.environ.get(headers, "").split(",")]
        for secret in filter(None, found):
            command.add_secret(secret)
            command.add_secret(unquote(secret))


def provider() -> Any:
    """The TracerProvider set globally (by an application embedding migrator, or a test),
    else the one this plugin makes from the OTEL_* settings, once per process."""
    global _own
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    if _own is None:
        made = TracerProvider(resource=_resource(), shutdown_on_exit=False)
        made.add_span_processor(BatchSpanProcessor(_exporter()))
        _guard_logs()
        _own = made
    return _own


def _resource() -> Resource:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES as the SDK reads them; the service
    is `migrator` unless they name it."""
    found = Resource.create()
    named = str(found.attributes.get("service.name", ""))
    ours: dict[str, str] = {}
    if not named or named.startswith("unknown_service"):
        ours["service.name"] = "migrator"
    if "service.version" not in found.attributes:
        ours["service.version"] = migrator.__version__
    return found.merge(Resource(ours))


def _exporter() -> SpanExporter:
    """The exporter OTEL_TRACES_EXPORTER names: `otlp` (the default: OTLP over HTTP, its
    endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*) or `console` (on stderr)."""
    names = [e.strip().lower() for e in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    chosen = [e for e in names if e and e != "none"] or ["otlp"]
    if chosen[0] == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)
    if chosen[0] not in ("otlp", "otlp_proto_http"):
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={chosen[0]}: migrator's otel plugin exports to `otlp` "
            "(OTLP over HTTP) or `console`"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    timed = any(
        os.environ.get(n)
        for n in ("OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
    )
    return OTLPSpanExporter(timeout=None if timed else EXPORT_SECONDS)


def _ns(at: float) -> int:
    return int(at * 1_000_000_000)


@dataclass
class _Run:
    span: Span
    last: float  # when its last event was told
    steps: dict[str, Span] = field(default_factory=dict)
    began: str | None = None  # its first state in this command (a resume's: `undoing`...)


class Trace:
    """The spans of one command, made as its events are told."""

    def __init__(self, command: CommandInfo) -> None:
        self.command = command
        _endpoint_secrets(command)
        _Masked.mask = staticmethod(command.mask)
        self.provider = provider()
        self.tracer: trace.Tracer = self.provider.get_tracer("migrator", migrator.__version__)
        carrier = {
            key: os.environ[name]
            for key, name in (("traceparent", "TRACEPARENT"), ("tracestate", "TRACESTATE"))
            if os.environ.get(name)
        }
        parent = TraceContextTextMapPropagator().extract(carrier)
        self.span = self.tracer.start_span(
            f"migrator {command.command} {command.plan}",
            context=parent,
            attributes=self._masked(
                {
                    "migrator.command": command.command,
                    "migrator.plan": command.plan,
                    "migrator.plan_file": command.plan_file,
                    "migrator.operator": command.operator,
                    "migrator.database": command.database,
                    "host.name": command.host,
                }
            ),
        )
        self.runs: dict[int, _Run] = {}

    def _masked(self, attributes: dict[str, Any]) -> dict[str, Any]:
        return {
            k: self.command.mask(v) if isinstance(v, str) else v
            for k, v in attributes.items()
            if v is not None
        }

    def _fail(self, span: Span, reason: Any) -> None:
        text = self.command.mask(str(reason)) if reason else "failed"
        span.set_status(Status(StatusCode.ERROR, text))
        span.set_attribute("migrator.error", text)

    # -- the events of a run ------------------------------------------------------------

    def event(self, info: RunInfo, event: RunEvent) -> None:
        run = self.runs.get(info.run_id)
        if run is None:
            run = self._start_run(info, event.at)
        if event.kind == "state":
            self._state(info, run, event)
        elif event.kind == "step":
            self._step(run, event)
        elif event.kind == "undo":
            self._undo(run, event)
        elif event.kind == "check":
            self._check(run, event)
        else:  # approval, lock, hook: an event of the run's span
            run.span.add_event(
                f"{event.kind} {event.status}",
                self._masked({"migrator.step": event.step, **_flat(event.detail)}),
                timestamp=_ns(event.at),
            )
        run.last = event.at

    def progress(self, info: RunInfo, progress: ProgressReport) -> None:
        """A long step's figures so far, as attributes of its span (from the step's thread:
        the SDK's spans take attributes under a lock of their own)."""
        run = self.runs.get(info.run_id)
        span = run.steps.get(progress.step) if run is not None else None
        if span is None:
            return
        figures = {
            "migrator.rows_done": progress.rows_done,
            "migrator.rows_total": progress.rows_total,
            "migrator.rows_written": progress.rows_written,
            "migrator.batches": progress.batches,
        }
        span.set_attributes({k: v for k, v in figures.items() if v is not None})

    def _start_run(self, info: RunInfo, at: float) -> _Run:
        span = self.tracer.start_span(
            f"run {info.transition} ({info.source} -> {info.target})",
            context=trace.set_span_in_context(self.span),
            start_time=_ns(at),
            attributes=self._masked(
                {
                    "migrator.plan": info.plan,
                    "migrator.run_id": info.run_id,
                    "migrator.transition": info.transition,
                    "migrator.from": info.source,
                    "migrator.to": info.target,
                    "migrator.operator": info.operator,
                    "host.name": info.host,
                }
            ),
        )
        self.runs[info.run_id] = _Run(span, at)
        return self.runs[info.run_id]

    def _state(self, info: RunInfo, run: _Run, event: RunEvent) -> None:
        detail = event.detail
        run.span.add_event(
            f"state {event.status}",
            self._masked(
                {
                    "migrator.from_state": detail.get("from"),
                    "migrator.reason": _text(detail.get("reason")),
                    "migrator.settle": event.settle,
                }
            ),
            timestamp=_ns(event.at),
        )
        run.span.set_attribute("migrator.outcome", event.status)
        if run.began is None:
            run.began = event.status
        if event.status not in ENDS:
            return
        if event.settle:
            run.span.set_attribute("migrator.settle", self.command.mask(event.settle))
        self._close_steps(run, event.at)
        # a run that succeeded, or one this command began undoing (a resume finishing an
        # undo, a rollback) and undid, did its job; any other end is an error
        if event.status != "succeeded" and (event.status, run.began) != ("undone", "undoing"):
            self._fail(run.span, detail.get("reason") or event.status)
        run.span.end(end_time=_ns(event.at))
        del self.runs[info.run_id]

    def _child(self, run: _Run, name: str, start: float, attributes: dict[str, Any]) -> Span:
        return self.tracer.start_span(
            name,
            context=trace.set_span_in_context(run.span),
            start_time=_ns(start),
            attributes=self._masked(attributes),
        )

    def _step(self, run: _Run, event: RunEvent) -> None:
        label = event.step or ""
        detail = event.detail
        span = run.steps.get(label)
        if event.status == "started" or span is None:
            if span is not None:  # started again (a resume): the first is over
                self._end(span, "interrupted", event.at, "started again")
            span = self._child(
                run,
                f"step {label}",
                event.at,
                {
                    "migrator.step": label,
                    "migrator.action": detail.get("action"),
                    "migrator.step_index": detail.get("index"),
                },
            )
            run.steps[label] = span
            if event.status == "started":
                return
        if event.status == "retry":
            span.add_event("retry", self._masked(_flat(detail)), timestamp=_ns(event.at))
            return
        del run.steps[label]
        reason = detail.get("error") or detail.get("reason")
        self._end(span, event.status, event.at, reason if event.status == "failed" else None)

    def _undo(self, run: _Run, event: RunEvent) -> None:
        detail = event.detail
        if event.status == "retry":
            run.span.add_event(
                "undo retry",
                self._masked({"migrator.step": event.step, **_flat(detail)}),
                timestamp=_ns(event.at),
            )
            return
        seconds = detail.get("seconds")
        start = event.at - float(seconds) if isinstance(seconds, int | float) else run.last
        span = self._child(
            run,
            f"undo {event.step}",
            min(start, event.at),
            {
                "migrator.step": event.step,
                "migrator.action": detail.get("action"),
                "migrator.step_index": detail.get("index"),
            },
        )
        reason = detail.get("error") or detail.get("reason")
        self._end(span, event.status, event.at, reason if event.status == "failed" else None)

    def _check(self, run: _Run, event: RunEvent) -> None:
        detail = event.detail
        seconds = detail.get("seconds")
        start = event.at - float(seconds) if isinstance(seconds, int | float) else event.at
        span = self._child(
            run,
            f"{detail.get('phase', '')}-check {event.step}",
            start,
            {
                "migrator.check": event.step,
                "migrator.check_key": detail.get("check"),
                "migrator.check_phase": detail.get("phase"),
                "migrator.check.actual": _value(detail.get("actual")),
                "migrator.check.expected": _value(detail.get("expected")),
                "migrator.check.detail": _text(detail.get("detail")),
            },
        )
        reason = None
        if event.status == "failed":
            reason = detail.get("detail") or (
                f"expected {_value(detail.get('expected'))}, got {_value(detail.get('actual'))}"
            )
        self._end(span, event.status, event.at, reason)

    def _end(self, span: Span, outcome: str, at: float, failure: Any) -> None:
        span.set_attribute("migrator.outcome", outcome)
        if failure is not None or outcome in ("failed", "interrupted"):
            self._fail(span, failure or outcome)
        span.end(end_time=_ns(at))

    def _close_steps(self, run: _Run, at: float) -> None:
        for span in run.steps.values():
            self._end(span, "interrupted", at, "interrupted")
        run.steps.clear()

    # -- the end of the command ---------------------------------------------------------

    def end(self, exit_code: int, error: str | None) -> None:
        """End every span still open (interrupted), then the command's; flush, bounded."""
        import time

        now = time.time()
        for run in self.runs.values():
            self._close_steps(run, now)
            run.span.set_attribute("migrator.outcome", "interrupted")
            self._fail(run.span, error or "interrupted")
            run.span.end(end_time=_ns(now))
        self.runs.clear()
        self.span.set_attribute("migrator.exit_code", exit_code)
        if exit_code != 0:
            self._fail(self.span, error or f"exit {exit_code}")
        self.span.end(end_time=_ns(now))
        flush = getattr(self.provider, "force_flush", None)
        if flush is not None:
            flush(int(FLUSH_SECONDS * 1000))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _value(value: Any) -> str | None:
    """A check's value as an attribute: JSON, cut short."""
    if value is None:
        return None
    text = json.dumps(value, default=str)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _flat(detail: Any) -> dict[str, Any]:
    """An event's detail as span attributes: scalars as they are, the rest as JSON."""
    flat: dict[str, Any] = {}
    for key, value in dict(detail).items():
        if isinstance(value, bool | int | float | str):
            flat[f"migrator.{key}"] = value
        elif value is not None and value != [] and value != {}:
            flat[f"migrator.{key}"] = _value(value)
    return flat
