"""`migrator status --watch`: the status redrawn until the runs at work end.

On a terminal the view is redrawn in place (rich Live) every `interval` seconds; without
one (a pipe, a log) it is printed again each time, after a line with the database's
time; with `--output json` each reading is one JSON document on a line of its own
(JSON Lines), the last one with `ended` naming how each watched run ended. Watching
ends, exit 0, once no run is at work and the lock is free (a path of several
transitions is watched to its end); Ctrl-C stops watching (exit 130), not the run. A
database that cannot be read (a restart, a failover) is said and read again, for up to
`MIGRATOR_RECONNECT_TIMEOUT` seconds (then exit 5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from migrator.db.failures import error_text, is_connection_lost
from migrator.db.reconnect import reconnect_window
from migrator.errors import ConnectionLost, ExitCode
from migrator.views.status import live_runs
from migrator.views.values import plain

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

Document = dict[str, Any]


def at_work(document: Document) -> bool:
    """Whether a run is at work in a status document, or a plan's lock is held (between
    two transitions of one apply)."""
    plans = document.get("plans", [document])
    return bool(live_runs(document)) or any(p["lock"]["held"] for p in plans)


def watch(
    build: Callable[[], Document],
    view: Callable[[Document], RenderableType],
    ended: Callable[[list[int]], list[str]],
    *,
    console: Console,
    out: TextIO,
    as_json: bool,
    interval: float,
    mask: Callable[[str], str] = str,
) -> ExitCode:
    """Show `build()` every `interval` seconds until no run is at work; then the lines
    `ended(ids)` gives for every run seen at work (`mask`: what hides secrets in a note)."""
    seen: list[int] = []
    lost: list[float] = []  # since when the database cannot be read (empty: it can)
    last: list[Document] = []

    def read() -> Document:
        try:
            document = build()
        except Exception as exc:
            if not last or not is_connection_lost(exc):
                raise
            lost[:] = lost or [time.monotonic()]
            if time.monotonic() - lost[0] > reconnect_window():
                raise ConnectionLost(
                    mask(
                        "lost the database while watching, and it did not come back within "
                        f"{reconnect_window():g} s: {' '.join(error_text(exc).split())}"
                    )
                ) from exc
            why = " ".join(error_text(exc).split())
            note = f"the database cannot be read now ({why}); reading again"
            console.print(mask(note), markup=False)
            return last[0]
        lost.clear()
        last[:] = [document]
        seen.extend(i for i in live_runs(document) if i not in seen)
        return document

    def emit(document: Document, **extra: Any) -> None:
        out.write(json.dumps(plain({**document, **extra}), separators=(",", ":")) + "\n")
        out.flush()

    try:
        document = read()
        if not at_work(document):
            if as_json:
                emit(document, ended=[])
            else:
                console.print(view(document), soft_wrap=False)
                console.print("no run is at work: nothing to watch")
            return ExitCode.OK
        if as_json:
            emit(document)
            while at_work(document):
                time.sleep(interval)
                document = read()
                if at_work(document):
                    emit(document)
            emit(document, ended=ended(seen))
            return ExitCode.OK
        if console.is_terminal:
            from rich.live import Live

            with Live(view(document), console=console, auto_refresh=False) as live:
                while at_work(document):
                    time.sleep(interval)
                    document = read()
                    live.update(view(document), refresh=True)
        else:
            console.print(view(document), soft_wrap=False)
            while at_work(document):
                time.sleep(interval)
                document = read()
                console.rule(style="dim")
                console.print(view(document), soft_wrap=False)
        for line in ended(seen):
            console.print(line, soft_wrap=False, markup=False)
        return ExitCode.OK
    except KeyboardInterrupt:
        message = "stopped watching (Ctrl-C); the runs go on"
        if as_json:
            print(message, file=console.file)
        else:
            console.print(message, markup=False)
        return ExitCode.SIGINT
