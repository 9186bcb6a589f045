"""One command's metrics: its options checked when it starts, the figures kept current in
the metrics file after every event that changes one and every progress report, and pushed
to the pushgateway after each batch, each change of a run's state and at the end of the
command (in the background: only the command's end waits for the gateway, bounded)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from migrator.plugin import CommandInfo, ProgressReport, RunEvent, RunInfo, UsageError
from migrator_metrics.exposition import render
from migrator_metrics.outlets import Pusher, write_atomically
from migrator_metrics.tally import Tally


class MetricsNotDelivered(Exception):
    """The metrics file could not be written or the pushgateway took nothing, and no run's
    trail was there to record it in: told as a warning when the command ends."""


class Recorder:
    """The metrics of one command, written to `file` and pushed by `pusher` (either may be
    None)."""

    def __init__(self, command: CommandInfo, file: Path | None, pusher: Pusher | None) -> None:
        self.tally = Tally(command)
        self.file = file
        self.pusher = pusher
        self._lock = threading.Lock()  # progress comes from the step's thread
        self._file_problem: str | None = None
        self._told: set[str] = set()
        self.started = False  # a run of this command began: only then are figures written

    def event(self, run: RunInfo, event: RunEvent) -> None:
        with self._lock:
            self.started = True
            if not self.tally.event(run, event):
                return
            self._publish(push=event.kind == "state")
        self._tell(run)

    def progress(self, run: RunInfo, report: ProgressReport) -> None:
        with self._lock:
            self.started = True
            self.tally.progress(run, report)
            self._publish(push=True)
        self._tell(run)

    def end(self, exit_code: int) -> None:
        """The command ended: the last figures written and pushed; a problem no run could
        record raised as `MetricsNotDelivered` (a warning on the operator's stream). A command
        that began no run (refused: locked, blocked, invalid, the database unreachable)
        leaves the file and the gateway's group as they were: they still tell the last run."""
        if not self.started:
            return
        with self._lock:
            self.tally.exit_code = exit_code
            number = self._publish(push=True)
        if self.pusher is not None and number:
            self.pusher.wait(number)  # the last figures out, `TIMEOUT` at most
        untold = [p for p in self._problems() if p not in self._told]
        if untold:
            raise MetricsNotDelivered("; ".join(untold))

    def _publish(self, push: bool) -> int:
        """Write the file; hand the figures to the pusher (`push`: a batch, a change of the
        run's state, the end) without waiting for the gateway: its thread pushes the newest
        figures when the last push ended. The push's number (0: none)."""
        text = render(self.tally.families(time.time()))
        if self.file is not None:
            try:
                write_atomically(self.file, text)
            except OSError as exc:
                if self._file_problem is None:
                    self._file_problem = (
                        f"the metrics file {self.file} could not be written: {exc.strerror or exc}"
                    )
        if self.pusher is not None and push:
            return self.pusher.push(text.encode("utf-8"))
        return 0

    def _problems(self) -> list[str]:
        found = [self._file_problem]
        if self.pusher is not None:
            found.append(self.pusher.problem)
        return [self.tally.command.mask(p) for p in found if p is not None]

    def _tell(self, run: RunInfo) -> None:
        """Each problem once in the run's trail (from the hook's own call)."""
        for problem in self._problems():
            if problem not in self._told:
                self._told.add(problem)
                run.warn(problem)


def open_recorder(command: CommandInfo) -> Recorder:
    """The recorder of `command`'s `--metrics-file` and `--pushgateway`, a file of the
    metrics file's folder written and removed to be sure it can (the metrics file itself is
    left as it is until a run begins); `UsageError` (exit 2, before anything runs) for a
    value it cannot use."""
    file = _metrics_file(command.options.get("metrics_file"))
    pusher = _pusher(command, command.options.get("pushgateway"))
    if file is not None:
        try:
            fd, probe = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise UsageError(
                f"--metrics-file {file}: cannot write there: {exc.strerror or exc}"
            ) from exc
    return Recorder(command, file, pusher)


def _metrics_file(value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"--metrics-file {value}: a folder, not a file")
    if not folder.is_dir():
        raise UsageError(f"--metrics-file {value}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--metrics-file {value}: the folder {folder} is not writable")
    return path


def _pusher(command: CommandInfo, value: str | None) -> Pusher | None:
    """The pusher of `--pushgateway URL`. Its user info (user, password, or a token as the
    user) is a secret before anything of it is parsed, and the URL is never shown whole:
    at most `scheme://host:port`. A query string is refused (a gateway takes none: a token
    there would be sent to nobody who reads it, and shown)."""
    if not value:
        return None
    from urllib.parse import unquote, urlsplit

    scheme, _, rest = value.partition("://")
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    for secret in (userinfo, userinfo.partition(":")[2]):
        if secret:
            command.add_secret(secret)
            command.add_secret(unquote(secret))
    query = value.partition("?")[2]
    for secret in [query, *(part.partition("=")[2] for part in query.split("&"))]:
        if secret:
            command.add_secret(secret)
    if scheme.lower() not in ("http", "https"):
        raise UsageError("--pushgateway: not an http:// or https:// URL")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise UsageError(f"--pushgateway: not a URL migrator can read ({scheme}://...)") from None
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
    if not host:
        raise UsageError(f"--pushgateway {shown}: no host")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"--pushgateway {command.mask(shown)}: its port is not a number from 1 to 65535"
        ) from None
    if query or parts.fragment:
        raise UsageError(
            f"--pushgateway {command.mask(shown)}: no query string nor fragment: give the "
            "gateway's URL (a user and password as http://USER:PASSWORD@HOST:PORT)"
        )
    where = command.mask(shown if port is None else f"{shown}:{port}")
    return Pusher(value, command.plan, where)
