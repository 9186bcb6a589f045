"""`migrator status`: where a plan is and what its open run is doing now, or every plan
the database knows; as a document (`--output json`) and as rich text that fits the
terminal (the run's figures on lines of their own, the last runs as a table)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from migrator import state
from migrator.db.lockwait import Blocker
from migrator.engine.locks import lock_holder
from migrator.state.live import database_now, known_plans, plan_file
from migrator.views.console import Unpadded
from migrator.views.durations import elapsed
from migrator.views.live import LIVE_STATES, run_document
from migrator.views.values import shown, visible

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from sqlalchemy.engine import Engine

    from migrator.plan import Plan
    from migrator.state.locks import Holder


def plan_status(db: Engine, plan: Plan, last: int = 10) -> dict[str, Any]:
    """The plan's phase, its lock, its open run (what it does now), its last runs."""
    held, holder = lock_holder(db, plan.name)
    with db.connect() as conn, conn.begin() as tx:
        phase = state.current_phase(conn, plan.name, plan.initial_phase)
        open_run = state.open_run(conn, plan.name)
        runs = state.runs_of(conn, plan.name, limit=last)
        paused = False
        open_doc = None
        read_at = database_now(conn)
        if state.schema_exists(conn):
            paused = state.read_control(conn, plan.name).paused
            if open_run is not None:
                now = database_now(conn)
                open_doc = run_document(
                    conn, open_run, plan_file=plan.file, held=held, holder=holder, now=now
                )
        tx.rollback()
    return {
        "plan": plan.name,
        "file": plan.file,
        "kind": plan.kind,
        "phase": phase,
        "phases": list(plan.phases),
        "lock": _lock(held, holder),
        "open_run": open_doc,
        "paused": paused,
        "runs": [r.as_dict() for r in runs],
        "read_at": read_at,
    }


def all_status(db: Engine) -> dict[str, Any]:
    """Every plan the database knows (a run or a phase of it): its phase and open run."""
    plans: list[dict[str, Any]] = []
    with db.connect() as conn, conn.begin() as tx:
        known = known_plans(conn)
        read_at = database_now(conn)
        tx.rollback()
    for name, phase in known:
        held, holder = lock_holder(db, name)
        with db.connect() as conn, conn.begin() as tx:
            open_run = state.open_run(conn, name)
            open_doc = None
            if open_run is not None:
                file = plan_file(conn, open_run.id) or "PLAN_FILE"
                open_doc = run_document(
                    conn,
                    open_run,
                    plan_file=file,
                    held=held,
                    holder=holder,
                    now=database_now(conn),
                )
                open_doc["file"] = file
            last = state.runs_of(conn, name, limit=1)
            tx.rollback()
        plans.append(
            {
                "plan": name,
                "phase": phase,
                "lock": _lock(held, holder),
                "open_run": open_doc,
                "last_run": last[0].as_dict() if last else None,
            }
        )
    return {"plans": plans, "read_at": read_at}


def live_runs(document: dict[str, Any]) -> list[int]:
    """The ids of the runs at work in a status document (of one plan or of all)."""
    runs = [p.get("open_run") for p in document.get("plans", [document])]
    return [r["id"] for r in runs if r is not None and r["state"] in LIVE_STATES]


def _lock(held: bool, holder: Holder | None) -> dict[str, Any]:
    return {
        "held": held,
        "holder": None
        if holder is None
        else {
            "run_id": holder.run_id,
            "operator": holder.operator,
            "host": holder.host,
            "pid": holder.pid,
            "since": holder.since,
        },
    }


def status_view(doc: dict[str, Any]) -> RenderableType:
    """One plan's status as rich text: every line wraps within the console's width."""
    from rich.console import Group
    from rich.text import Text

    lines: list[RenderableType] = [
        Text(visible(f"plan {doc['plan']} ({doc['file']})"), style="bold"),
        Text(visible(f"phase: {doc['phase']}   (phases: {' -> '.join(doc['phases'])})")),
    ]
    lock = doc["lock"]
    if lock["held"]:
        h = lock["holder"]
        who = (
            f"run {h['run_id']} of {h['operator']} on {h['host']} (pid {h['pid']}) "
            f"since {when(h['since'])}"
            if h
            else "another session"
        )
        lines.append(Text(visible(f"lock: held by {who}")))
    else:
        lines.append(Text("lock: free"))
    run = doc["open_run"]
    if run:
        lines += run_lines(run, doc["file"])
    live = bool(run) and run["state"] in LIVE_STATES
    if doc["paused"] and not (live and run["backfill"] and run["backfill"]["paused"]):
        release = f"`migrator continue {doc['file']}` releases it"
        pause = (
            f"backfill: paused; the run's backfill holds when it comes to it; {release}"
            if live
            else f"backfill: paused (no run is live): a resumed run starts held; {release}"
        )
        lines.append(Text(visible(pause), style="yellow"))
    if doc["runs"]:
        lines.append(Text("last runs:"))
        lines.append(runs_table(doc["runs"]))
    else:
        lines.append(Text("no runs yet"))
    return Unpadded(Group(*lines))


def all_view(doc: dict[str, Any]) -> RenderableType:
    """Every plan in the database: a table of their phases and runs, then each open run."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if not doc["plans"]:
        return Text("no plan has run on this database yet")
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    for name in ("plan", "phase", "run"):
        table.add_column(name, overflow="fold")
    for p in doc["plans"]:
        run = p["open_run"]
        last = p["last_run"]
        if run:
            now = f"run {run['id']} {run['transition']}: {_state(run['state'])}"
        elif last:
            now = f"last run {last['id']} {last['transition']}: {last['status']}"
        else:
            now = "no runs"
        table.add_row(Text(visible(p["plan"])), Text(visible(p["phase"])), Text(visible(now)))
    lines: list[RenderableType] = [table]
    for p in doc["plans"]:
        if p["open_run"]:
            lines.append(Text(""))
            lines.append(Text(visible(f"plan {p['plan']}"), style="bold"))
            lines += run_lines(p["open_run"], p["open_run"]["file"])
    return Unpadded(Group(*lines))


def run_lines(run: dict[str, Any], file: str) -> list[RenderableType]:
    """The open run: what it is doing, and for how long; for a backfill its figures; who
    blocks it; for an interrupted run how far it got and what settles it."""
    from rich.text import Text

    live = run["state"] in LIVE_STATES
    style = "red" if not live else "yellow" if run["state"] != "running" else "green"
    head = (
        f"run {run['id']} ({run['transition']}: {run['from_phase']} -> {run['to_phase']}) "
        f"is {_state(run['state'])}"
    )
    head += f" ({run['status']})" if live else f" (recorded as {run['status']})"
    if run.get("lock_lost") and live:
        head += "; its lock was lost in a reconnect, its process still writes progress"
    lines: list[RenderableType] = [Text(visible(head), style=style)]
    took = f", running for {elapsed(run['elapsed_seconds'])}" if live else ""
    lines.append(
        _indented(
            f"started {when(run['started_at'])}{took}, by "
            f"{run['operator']}@{run['host']} (pid {run['pid']})"
        )
    )
    if live and run["current_step"]:
        lines.append(_indented(f"step: {run['current_step']}"))
    elif live and run["status"] == "prechecking":
        lines.append(_indented("step: none yet, it is in its pre-checks"))
    if not live and run["error"]:
        lines.append(_indented(f"why: {shown(run['error'], 400)}", "red"))
    if not live and run["stopped_during"]:
        lines.append(_indented(f"stopped during step: {run['stopped_during']}"))
    if run["last_step_done"]:
        lines.append(_indented(f"last step done: {run['last_step_done']}"))
    backfill = run["backfill"]
    if backfill:
        lines += [_indented(line) for line in backfill_lines(backfill, live, file)]
    wait = run["lock_wait"]
    if wait:
        for b in wait["blockers"]:
            lines.append(_indented(f"waiting for a lock held by {Blocker.from_dict(b)}", "yellow"))
        retry = wait["last_retry"]
        if retry and retry["blockers"]:
            names = "; ".join(str(Blocker.from_dict(b)) for b in retry["blockers"])
            part = retry["part"] or retry["step"]
            # between its attempts, what its last one waited for is what it waits for
            between = run["state"] == "waiting_for_lock" and not wait["blockers"]
            lines.append(
                _indented(
                    f"last retry ({part}, {when(retry['at'])}): blocked by {names}",
                    "bold yellow" if between else "dim",
                )
            )
    if run["settle"]:
        lines.append(_indented("settle it: " + "  |  ".join(run["settle"]), "bold"))
    return lines


def backfill_lines(b: dict[str, Any], live: bool, file: str) -> list[str]:
    """A backfill's figures, a line each, its step's name on a line of its own (above):
    rows done of the total, the rate and the time left, the last batch, a pause or a
    throttle."""
    total = b["rows_total"]
    rows = f"{b['rows_done']:,}"
    if total is not None:
        about = "about " if b["estimated"] else ""
        rows += f" of {about}{total:,}"
    if not live:
        rows += " rows"
    if total is not None and b["percent"] is not None:
        rows += f" ({b['percent']:.1f}%)"
    if b["rows_written"] is not None:
        rows += f", {b['rows_written']:,} written"
    if not live:  # how far it got: no current step is shown above
        return [f"backfill {b['step']}: {rows} when it stopped"]
    lines = [f"rows: {rows}"]
    figures = []
    rate = b["rows_per_second"]
    figures.append("rate: measuring" if rate is None else f"rate: {rate:,.0f} rows/s")
    if b["eta_seconds"] is not None:
        figures.append(f"about {elapsed(b['eta_seconds'])} left")
    if b["streams"] and b["streams"] > 1:
        figures.append(f"{b['streams']} streams")
    if b["last_batch_age_seconds"] is not None:
        figures.append(f"last batch {elapsed(b['last_batch_age_seconds'])} ago")
    lines.append(", ".join(figures))
    paused = b["paused"]
    if paused:
        since = when(paused["since"]) if paused["since"] else "?"
        lines.append(
            f"backfill: paused by {paused['by'] or '?'} since {since}; "
            f"`migrator continue {file}` releases it"
        )
    if b["throttled"]:
        lines.append(f"waiting: {shown(b['throttled'], 200)}")
    return lines


def runs_table(runs: list[dict[str, Any]]) -> RenderableType:
    """The last runs: id, start (with its zone), transition and its phases beneath it,
    status, operator, how long it took."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("run", justify="right", min_width=3)
    table.add_column("started", min_width=10)
    table.add_column("transition", overflow="fold")
    table.add_column("status", overflow="fold")
    table.add_column("by", overflow="fold")
    table.add_column("took", justify="right", min_width=6)
    for r in runs:
        finished = r["finished_at"]
        took = elapsed((finished - r["started_at"]).total_seconds()) if finished else ""
        transition = Text(visible(r["transition"]))
        transition.append(visible(f"\n{r['from_phase']} -> {r['to_phase']}", lines=True), "dim")
        table.add_row(
            str(r["id"]),
            when(r["started_at"]),
            transition,
            Text(visible(r["status"])),
            Text(visible(r["operator"])),
            took,
        )
    return table


def when(at: datetime | str | None) -> str:
    """A time as people read it: date, time, and its zone (`2026-12-05 14:03:07 UTC`)."""
    if not isinstance(at, datetime):
        return "?" if at is None else str(at)
    zone = at.tzname() or ""
    if not zone.isalpha():
        offset = at.strftime("%z")
        zone = f"{offset[:3]}:{offset[3:]}" if offset else "(no zone)"
    return f"{at:%Y-%m-%d %H:%M:%S} {zone}"


_STATES = {"waiting_for_lock": "waiting for a lock", "undo_failed": "blocked: its undo failed"}


def _state(name: str) -> str:
    return _STATES.get(name, name.replace("_", " "))


def _indented(line: str, style: str = "") -> RenderableType:
    """A line of the run's block: indented, and so are the lines it wraps onto."""
    from rich.text import Text

    return _Indented(Text(visible(line), style=style))


class _Indented:
    """Text two columns in, wrapped within the width left (no padding to the right)."""

    def __init__(self, text: Any) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        inner = options.update_width(max(options.max_width - 2, 8))
        for line in console.render_lines(self.text, inner, pad=False):
            if line and not line[-1].control:  # no space left at the end of a wrapped line
                line[-1] = Segment(line[-1].text.rstrip(" "), line[-1].style)
            yield Segment("  ")
            yield from line
            yield Segment.line()
