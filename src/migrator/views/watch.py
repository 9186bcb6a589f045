"""`migrator status --watch`: the status redrawn until the runs at work end.

On a terminal the view is redrawn in place (rich Live, its lines wrapped to the width,
never cropped) every `interval` seconds; without one (a pipe, a log) it is printed again
each time, after a rule with the database's time of the reading; with `--output json`
each reading is one JSON document on a line of its own (JSON Lines), the last one with
`ended` naming how each watched run ended. While the database cannot be read the last
reading is shown marked stale: "as of HH:MM:SS: the database cannot be read" (JSON:
`stale: true` and `as_of`, the time of that reading; every other reading `stale: false`). Watching
ends, exit 0, once no run is at work and the lock is free (a path of several
transitions is watched to its end); Ctrl-C stops watching (exit 130), not the run. A
database that cannot be read (a restart, a failover) is said and read again, for up to
`MIGRATOR_RECONNECT_TIMEOUT` seconds (then exit 5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from migrator.db.failures import error_text, is_connection_lost
from migrator.db.reconnect import reconnect_window
from migrator.errors import ConnectionLost, ExitCode
from migrator.views.console import Unpadded
from migrator.views.status import live_runs, when
from migrator.views.values import plain, visible

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
    from rich.console import Group
    from rich.text import Text

    seen: list[int] = []

    def shown(document: Document) -> RenderableType:
        """The reading, marked when it is the last one read before the database was lost."""
        if not document.get("stale"):
            return view(document)
        at = document.get("as_of")
        said = f"as of {at:%H:%M:%S}" if isinstance(at, datetime) else "as of the last reading"
        note = Text(f"{said}: the database cannot be read", style="bold red")
        return Group(view(document), note)

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
            return {**last[0], "stale": True, "as_of": last[0].get("read_at")}
        lost.clear()
        last[:] = [document]
        seen.extend(i for i in live_runs(document) if i not in seen)
        return document

    def emit(document: Document, **extra: Any) -> None:
        document = {"stale": False, "as_of": None, **document, **extra}
        out.write(json.dumps(plain(document), separators=(",", ":")) + "\n")
        out.flush()

    try:
        document = read()
        if not at_work(document):
            if as_json:
                emit(document, ended=[])
            else:
                console.print(view(document), soft_wrap=False)
                console.print(Unpadded(Text("no run is at work: nothing to watch")))
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

            wraps = console.soft_wrap
            console.soft_wrap = False  # Live crops the lines of a console that soft-wraps
            try:
                with Live(shown(document), console=console, auto_refresh=False) as live:
                    while at_work(document):
                        time.sleep(interval)
                        document = read()
                        live.update(shown(document), refresh=True)
            finally:
                console.soft_wrap = wraps
        else:
            console.print(view(document), soft_wrap=False)
            while at_work(document):
                time.sleep(interval)
                document = read()
                console.rule(Text(when(document.get("read_at"))), style="dim")
                console.print(shown(document), soft_wrap=False)
        for line in ended(seen):
            console.print(Unpadded(Text(visible(line))), soft_wrap=False)
        return ExitCode.OK
    except KeyboardInterrupt:
        message = "stopped watching (Ctrl-C); the runs go on"
        if as_json:
            print(message, file=console.file)
        else:
            console.print(message, markup=False)
        return ExitCode.SIGINT
