"""What a rehearsal reports: the document (`--output json`) and the lines for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.errors import ExitCode, UsageError
from migrator.plan.model import Plan
from migrator.rehearse.roundtrip import Walk
from migrator.rehearse.scratch import ScratchDatabase
from migrator.rehearse.standins import waiting
from migrator.rehearse.versions import Versions

if TYPE_CHECKING:
    from migrator.views.console import Reporter


@dataclass(frozen=True)
class SampleRows:
    """`--sample-sql PATH`: sample rows of the operator's own, as SQL for psql."""

    path: str
    text: str

    @classmethod
    def read(cls, path: str | Path) -> SampleRows:
        """The file's text; a file that cannot be read is bad usage, before anything is made."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"--sample-sql {str(path)!r}: cannot read it ({why})") from None
        return cls(str(path), text)


@dataclass
class Prepared:
    """What was done to make the scratch database, for the report."""

    versions: Versions  # of the target, the scratch server, pg_dump
    start: str
    notes: list[str] = field(default_factory=list)
    sample_rows: SampleRows | None = None


def document(
    plan: Plan,
    target: Any,
    server: Any,
    scratch: ScratchDatabase,
    prepared: Prepared,
    amount: Any,
    walk: Walk,
    code: ExitCode,
    keep: bool,
    not_called: list[str],
    stood_in: list[str] | None = None,
) -> dict[str, Any]:
    failing = [t for t in walk.trips if not t.passes]
    versions = prepared.versions
    return {
        "plan": plan.name,
        "exit_code": int(code),
        "result": "clean" if not failing else ("failed" if walk.stopped else "differences"),
        "target": {
            "dsn": target.shown,
            "version": versions.target.version,
            "major": versions.target.major,
        },
        "scratch": {
            "server": server.shown,
            **versions.scratch.as_dict(),
            "shown": str(versions.scratch),
            "database": scratch.name,
            "kept": keep,
            "roles_created": scratch.roles_created,
        },
        "pg_dump": {
            "path": str(versions.pg_dump.path),
            "version": versions.pg_dump.version,
            "major": versions.pg_dump.major,
            "embedded": versions.pg_dump.embedded,
            "shown": versions.pg_dump.shown,
        },
        "sample": str(amount) if amount is not None else None,
        "rows_copied": scratch.rows_copied,
        "sample_sql": prepared.sample_rows.path if prepared.sample_rows else None,
        "start_phase": prepared.start,
        "notes": prepared.notes,
        "not_called": not_called,
        "stood_in": stood_in or [],
        "evaluated_once": waiting(plan),
        "plan_checksum": plan.checksum,
        "irreversible": [t.transition for t in walk.trips if t.irreversible],
        "round_trips": [t.as_dict() for t in walk.trips],
        "not_rehearsed": [
            {"transition": name, "reason": reason} for name, reason in walk.unreached.items()
        ],
    }


def render_preparation(
    prepared: Prepared, scratch: ScratchDatabase, amount: Any, reporter: Reporter
) -> None:
    say = reporter.say
    copied = "the schema only"
    if amount is not None:
        rows = sum(scratch.rows_copied.values())
        copied = f"the schema and {amount} ({rows} rows in {len(scratch.rows_copied)} tables)"
    if prepared.sample_rows is not None:
        copied += f", then loaded the sample rows of {prepared.sample_rows.path},"
    versions = prepared.versions
    say(
        f"  copied {copied} of PostgreSQL {versions.target.version} with "
        f"{versions.pg_dump.shown} onto scratch {versions.scratch}"
    )
    for note in prepared.notes:
        say(f"  note: {note}", style="yellow")
    say(f"  starting in phase '{prepared.start}'")


def render(
    plan: Plan,
    walk: Walk,
    not_called: list[str],
    reporter: Reporter,
    stood_in: list[str] | None = None,
) -> None:
    say = reporter.say
    if not_called:
        say(
            "  not called on a rehearsal (they reach outside the database): "
            + "; ".join(not_called)
        )
    if stood_in:
        say("  stood in on a rehearsal (no time let pass): " + "; ".join(stood_in))
    once = waiting(plan)
    if once:
        say("  evaluated once, without their wait or soak: " + "; ".join(once))
    for trip in walk.trips:
        arrow = f"{trip.transition} ({trip.source} -> {trip.target})"
        back = f"back by {trip.back}" if trip.back else "back by undoing its steps"
        legs = ", ".join(back if leg == "back" else leg for leg in trip.legs)
        if trip.failed:
            legs += ("; " if legs else "") + trip.failed
        n = len(trip.findings)
        verdict = f"{n} difference{'s' if n != 1 else ''}" if n else "clean"
        if trip.failed and not n:  # a leg failed: nothing to call clean
            verdict = ""
        if trip.outcome == "irreversible":
            steps = ", ".join(f"'{s}'" for s in trip.irreversible)
            say(
                f"  ✓ {arrow}: {legs}: irreversible by design, not taken back "
                f"({steps} marked `rollback: irreversible`)",
                style="green",
            )
        elif trip.outcome == "clean":
            say(f"  ✓ {arrow}: {legs}: {verdict}", style="green")
        else:
            say(f"  ✗ {arrow}: {legs}" + (f": {verdict}" if verdict else ""), style="red")
        for check in trip.checks:
            from migrator.views.values import shown

            expected = (
                f", expected {shown(check['expected'], 60)}"
                if check["expected"] is not None
                else ""
            )
            why = f" — {check['detail']}" if check["detail"] else ""
            say(
                f"      {check['leg']}: {check['check']} did not pass on the copy "
                f"(actual {shown(check['actual'], 60)}{expected}){why}",
                style="yellow",
            )
        for note in trip.notes:
            say(f"      note: {note}", style="yellow")
        for entry in trip.trace:  # the way there and back; forward again in the JSON
            if entry.leg in ("forward", "back"):
                say(f"      {entry.leg} '{entry.step}': {entry.line()}", style="dim")
        for finding in trip.findings:
            say(f"      {finding.leg}: {finding.message}")
        if trip.log:
            say("      what the failing run printed:")
            for line in trip.log.rstrip().splitlines():
                say(f"      {line}")
    for name, reason in walk.unreached.items():
        say(f"  - {name}: not rehearsed ({reason})", style="yellow")
    failing = [t for t in walk.trips if not t.passes]
    kept = [t.transition for t in walk.trips if t.irreversible]
    if not failing:
        trips = f"{len(walk.trips)} round trip{'s' if len(walk.trips) != 1 else ''}"
        if kept:
            trips += "; not taken back, irreversible by design: " + ", ".join(kept)
        every = "every reversible transition" if kept else "every transition"
        say(
            f"rehearsal of plan {plan.name}: clean, {every} rehearsed came back as it was "
            f"({trips})",
            style="green",
        )
    else:
        say(
            f"rehearsal of plan {plan.name}: {len(failing)} of {len(walk.trips)} round trip(s) "
            "did not come back clean",
            style="red",
        )
