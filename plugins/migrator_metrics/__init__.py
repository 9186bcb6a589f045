"""The `metrics` plugin: `--metrics-file PATH` (a Prometheus text file kept current, for
node_exporter's textfile collector) and `--pushgateway URL` (the same pushed after each
batch and at the end of each run and of the command).

The hooks below hold a `Recorder` per command that asked for metrics; its modules are
imported only then (`migrator --help` imports none of them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import migrator
from migrator.plugin import (
    CommandInfo,
    OptionSpec,
    PerCommand,
    ProgressReport,
    RunEvent,
    RunInfo,
)

if TYPE_CHECKING:
    from migrator_metrics.recorder import Recorder

_RECORDERS: PerCommand[Recorder] = PerCommand()


@migrator.hookimpl
def migrator_register_options(register: Callable[[OptionSpec], None]) -> None:
    register(
        OptionSpec(
            "metrics_file",
            "keep a Prometheus text file of the run's metrics current here (for "
            "node_exporter's textfile collector), replaced atomically",
            metavar="PATH",
            envvar="MIGRATOR_METRICS_FILE",
        )
    )
    register(
        OptionSpec(
            "pushgateway",
            "push the run's metrics to this Prometheus pushgateway after each batch and at "
            "the end (a push that fails is a warning, never a failure)",
            metavar="URL",
            envvar="MIGRATOR_PUSHGATEWAY",
        )
    )


@migrator.hookimpl
def migrator_command_start(command: CommandInfo) -> None:
    if not (command.options.get("metrics_file") or command.options.get("pushgateway")):
        return
    from migrator_metrics.recorder import open_recorder

    _RECORDERS.keep(command, open_recorder(command))


@migrator.hookimpl
def migrator_event(run: RunInfo, event: RunEvent) -> None:
    recorder = _RECORDERS.of(run)
    if recorder is not None:
        recorder.event(run, event)


@migrator.hookimpl
def migrator_progress(run: RunInfo, progress: ProgressReport) -> None:
    recorder = _RECORDERS.of(run)
    if recorder is not None:
        recorder.progress(run, progress)


@migrator.hookimpl
def migrator_command_end(command: CommandInfo, exit_code: int) -> None:
    recorder = _RECORDERS.end(command)
    if recorder is not None:
        recorder.end(exit_code)
