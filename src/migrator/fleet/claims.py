"""Which rollout a `fleet apply` continues, and which runs of a target are a rollout's
own: those made by one of the `migrator` commands it started (their pids are in the
ledger before they can make a run; a run's `migrator.runs` row has its host and pid).
Another operator's run, or another fleet's, is never claimed, even when it brought the
target to the rollout's phase: `fleet rollback` takes back only what the rollout did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrator.errors import UsageError
from migrator.fleet.ledger import LedgerDocument, RolloutRecord, TargetRecord, rollout_id
from migrator.fleet.session import FleetSession
from migrator.fleet.targets import FleetTarget
from migrator.masking import Secrets

if TYPE_CHECKING:
    from migrator.state import RunRow


def continued(session: FleetSession, document: LedgerDocument, to: str) -> RolloutRecord:
    """The plan's latest rollout to `to`, continued; else a new one. Every target of the
    fleet has a record (new ones pending); records of targets gone from it are kept."""
    plan = session.plan
    latest = document.latest(plan.name)
    waves = [wave.name for wave in session.fleet.waves]
    if latest is None or latest.to != to or latest.status in ("rolling_back", "rolled_back"):
        taken = {r.id for r in document.rollouts}
        new_id = base = rollout_id(plan.name, to)
        count = 1
        while new_id in taken:  # two rollouts in one second: ids stay apart
            count += 1
            new_id = f"{base}-{count}"
        latest = RolloutRecord(
            id=new_id,
            plan=plan.name,
            plan_file=str(session.plan_file),
            to=to,
            operator=session.ctx.operator,
            waves=waves,
            variables=dict(session.ctx.variables),
        )
        document.rollouts.append(latest)
    elif latest.variables != session.ctx.variables:
        other_variables(latest, session.ctx.variables)
    for target in session.targets:
        if target.name not in latest.targets:
            latest.targets[target.name] = TargetRecord(wave=target.wave)
        else:
            latest.targets[target.name].wave = target.wave
    latest.waves = list(dict.fromkeys([*latest.waves, *waves]))
    return latest


def other_variables(rollout: RolloutRecord, given: dict[str, str]) -> None:
    """A rollout continued with other `--var`s: taken while it moved no target yet (its
    record then says the new ones); refused once it did (`fleet rollback` gives every
    moved target's undo the rollout's `--var`s: they must be those its steps saw)."""
    if not rollout.moved():
        rollout.variables = dict(given)
        return
    names = sorted(
        n for n in {*rollout.variables, *given} if rollout.variables.get(n) != given.get(n)
    )
    raise UsageError(
        f"rollout {rollout.id} moved targets with other --var values ({', '.join(names)} "
        "differ): continue it with the --var's it was started with, or take it back with "
        "`migrator fleet rollback` and apply again"
    )


def is_its(rollout: RolloutRecord, name: str, record: TargetRecord, run: RunRow) -> bool:
    """Whether `run` of target `name` is the rollout's: made by one of its commands (or
    named by one of them as its own, in the document it ended with)."""
    return run.id in record.runs or rollout.made_by_it(name, run.host, run.pid)


def moved_by_it(
    rollout: RolloutRecord, name: str, record: TargetRecord, last: RunRow | None
) -> bool:
    """Whether the run that brought the target to the rollout's phase (its last succeeded
    run, `last`) is the rollout's."""
    return last is not None and last.to_phase == rollout.to and is_its(rollout, name, record, last)


def its_runs(
    session: FleetSession,
    rollout: RolloutRecord,
    target: FleetTarget,
    record: TargetRecord,
    seen: list[int] | None = None,
) -> list[int]:
    """The record's runs, the ones a command said it made (`seen`), and every run of the
    plan on the target made by one of the rollout's commands (read there; when it cannot
    be read, the first two), oldest first."""
    runs = list(record.runs)
    runs += [r for r in seen or [] if r not in runs]
    if record.pids:
        timeout = session.fleet.spec.timeout
        found = plan_runs(target, session.plan.name, timeout, session.secrets)
        runs += [
            r.id
            for r in found or []
            if r.id not in runs and rollout.made_by_it(target.name, r.host, r.pid)
        ]
    return sorted(runs)


def plan_runs(
    target: FleetTarget, plan: str, timeout: float, secrets: Secrets
) -> list[RunRow] | None:
    """The plan's runs on the target, oldest first (None: it could not be read). Read
    only, within `timeout`."""
    from migrator import state
    from migrator.fleet.reading import read_only

    try:
        with read_only(target, timeout) as conn:
            return list(reversed(state.runs_of(conn, plan)))
    except Exception:  # unreadable now: the runs its commands named are what is known
        return None
