"""The `otel` plugin (`migrator[otel]`): a span per command, run, step, check and undo, under
the `TRACEPARENT` of the CI job or orchestrator.

It traces only when OpenTelemetry is installed and the environment asks for traces
(`wanted`); otherwise every hook returns at once and nothing of OpenTelemetry is
imported. The spans are made in `tracing.py`, imported by the first command traced.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.util import find_spec
from typing import TYPE_CHECKING

import migrator
from migrator.plugin import CommandInfo, PerCommand, ProgressReport, RunEvent, RunInfo

if TYPE_CHECKING:
    from migrator_otel.tracing import Trace

_traces: PerCommand[Trace] = PerCommand()  # the commands being traced


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces: `OTEL_TRACES_EXPORTER` set to an exporter
    (not `none`), or an OTLP endpoint set (`OTEL_EXPORTER_OTLP_ENDPOINT`,
    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); never with `OTEL_SDK_DISABLED=true`; and only
    when OpenTelemetry's SDK is installed (`migrator[otel]`)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = [e.strip() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()]
    if exporters:
        asked = any(e.lower() != "none" for e in exporters)
    else:
        asked = any(
            env.get(name, "").strip()
            for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
    return asked and _installed()


def _installed() -> bool:
    try:
        return find_spec("opentelemetry.sdk") is not None
    except ModuleNotFoundError:  # no `opentelemetry` namespace at all
        return False


@migrator.hookimpl
def migrator_command_start(command: CommandInfo) -> None:
    if not wanted():
        return
    from migrator_otel.tracing import Trace

    _traces.keep(command, Trace(command))


@migrator.hookimpl
def migrator_event(run: RunInfo, event: RunEvent) -> None:
    trace = _traces.of(run)
    if trace is not None:
        trace.event(run, event)


@migrator.hookimpl
def migrator_progress(run: RunInfo, progress: ProgressReport) -> None:
    trace = _traces.of(run)
    if trace is not None:
        trace.progress(run, progress)


@migrator.hookimpl
def migrator_command_end(command: CommandInfo, exit_code: int, error: str | None) -> None:
    trace = _traces.end(command)
    if trace is not None:
        trace.end(exit_code, error)
