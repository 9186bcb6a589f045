"""What each run of a command is told as: the reporting hooks' events turned into the six
notification events, the failing checks and step gathered for the content, and the
receivers (the plan's, and `MIGRATOR_NOTIFY_URL`'s) each sent the events it wants."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from migrator.plugin import CommandInfo, RunEvent, RunInfo, UsageError

from .config import DEFAULT_TIMEOUT, ENV_URL, EVENTS, Receiver, url_problem
from .delivery import Outbox, Target, origin
from .document import Facts, json_document, slack_message

ENDS = {
    "succeeded": ("run_succeeded", "succeeded"),
    "failed": ("run_failed", "nothing applied"),
    "undone": ("run_failed", "undone"),
    "undo_failed": ("undo_failed", "undo failed"),
    "interrupted": ("interrupted", "interrupted"),
}
"""A run's end states: the event each is told as, and its outcome."""
WORKING = {"prechecking", "applying", "verifying", "undoing", "awaiting_approval"}
"""States a run works in: the first one this command records is the run's start."""
KEPT_CHECKS = 5
"""Failing checks a notification names at most (the last ones)."""


@dataclass(frozen=True)
class Wanted:
    """A receiver: where, in which format, for which events."""

    target: Target
    format: str
    on: frozenset[str]


@dataclass
class Notes:
    """What a run's notifications say beyond its state: its failing checks and step."""

    run: RunInfo
    checks: list[dict[str, Any]] = field(default_factory=list)
    step: dict[str, Any] | None = None
    undo: dict[str, Any] | None = None
    started: bool = False
    ended: bool = False
    first: str | None = None  # the first state this command worked the run in
    last: str | None = None  # the last state it was told


SPECIFIC = 8
"""Characters a piece of a receiver's URL (its password, query or path) needs to be masked
on its own: a shorter one is a bare word (`/hooks`), masking it would garble every text
that holds the word; the whole URL is masked always."""


def notifier_for(command: CommandInfo) -> Notifier | None:
    """The notifier of `command`, or None when nobody is to be told. A receiver's URL that
    cannot be one stops the command (UsageError: exit 2), naming where it is written,
    never its value: no receiver is left out silently."""
    receivers: list[Receiver] = list(command.settings.get("notify") or [])
    wanted: dict[str, Wanted] = {}
    for index, receiver in enumerate(receivers):
        where = f"{command.plan_file}: notify[{index}].url"
        try:
            url = command.interpolate(receiver.url).strip()
        except Exception as exc:
            raise UsageError(f"notify: {where}: {command.mask(str(exc))}") from None
        _keep(command, url, where)
        wanted.setdefault(url, _wanted(url, receiver.format, receiver.on, receiver.timeout))
    env_url = os.environ.get(ENV_URL, "").strip()
    if env_url:
        _keep(command, env_url, ENV_URL)
        wanted.setdefault(env_url, _wanted(env_url, "json", EVENTS, DEFAULT_TIMEOUT))
    return Notifier(command, list(wanted.values())) if wanted else None


def _keep(command: CommandInfo, url: str, where: str) -> None:
    """Make `url` a secret (a webhook's token is in it), or refuse it, never showing it."""
    command.add_secret(url)
    problem = url_problem(url)
    if problem is not None:
        raise UsageError(f"notify: {where}: {problem}")
    parts = urlsplit(url)
    for piece in (parts.password, parts.query, parts.path):  # never the user: a bare word
        if piece and len(piece) >= SPECIFIC:
            command.add_secret(piece)


def _wanted(url: str, format: str, on: Iterable[str], timeout: float) -> Wanted:
    return Wanted(Target(url, origin(url), timeout), format, frozenset(on))


class Notifier:
    """The notifications of one command."""

    def __init__(self, command: CommandInfo, receivers: list[Wanted]) -> None:
        self.command = command
        self.receivers = receivers
        self.outbox = Outbox(command.mask)
        self.runs: dict[int, Notes] = {}

    def event(self, run: RunInfo, event: RunEvent) -> None:
        """One event of a run's trail (on the run's thread)."""
        notes = self.runs.setdefault(run.run_id, Notes(run))
        notes.run = run
        if event.kind == "check" and event.status == "failed":
            notes.checks = [*notes.checks, _check(event)][-KEPT_CHECKS:]
        elif event.kind == "step" and event.status == "failed":
            notes.step = _step(event)
        elif event.kind == "undo" and event.status == "failed":
            notes.undo = _step(event)
        if event.kind != "state":
            return
        notes.last = event.status
        told = self._told_as(notes, event)
        if told is not None:
            name, outcome = told
            self._send(name, Facts(run, outcome, event, notes.checks, notes.step, notes.undo))
        if (event.status in ENDS and notes.started) or (told and told[0] == "approval_needed"):
            self.outbox.flush()  # a run's end; or a person is about to be asked: told first
        for warning in self.outbox.warnings():  # only here: on the run's thread, in a hook
            run.warn(warning)

    def _told_as(self, notes: Notes, event: RunEvent) -> tuple[str, str] | None:
        status = event.status
        if not notes.started:
            if status not in WORKING:
                return None  # a resume records the dead run interrupted first: old news
            notes.started = True
            notes.first = status
            if status != "awaiting_approval":
                resumed = status != "prechecking" or notes.run.command.command == "resume"
                return ("run_started", "resumed" if resumed else "started")
        if status == "awaiting_approval":
            # told only when a person is really asked (not when --yes approves at once)
            return ("approval_needed", "awaiting approval") if event.settle else None
        if status in ENDS and not notes.ended:
            notes.ended = True
            if status == "undone" and _undo_asked(notes):
                return ("run_succeeded", "rolled back")
            return ENDS[status]
        return None

    def end(self, exit_code: int, error: str | None) -> None:
        """The command ended: a run it started and never ended (the database gone, the
        lock lost) is told interrupted; then wait for what is queued (at most the timeout);
        what was not delivered is raised, to be told on the operator's stream."""
        for notes in self.runs.values():
            if notes.started and not notes.ended:
                notes.ended = True
                reason = error or f"the command ended with exit {exit_code}"
                settle = _settled_by(notes)
                state = RunEvent("state", "interrupted", None, {"reason": reason}, settle)
                facts = Facts(notes.run, "interrupted", state, notes.checks, notes.step, notes.undo)
                self._send("interrupted", facts, exit_code)
        self.outbox.flush()
        self.outbox.close()
        left = self.outbox.warnings()
        if left:
            raise NotDelivered("; ".join(left))

    def _send(self, name: str, facts: Facts, exit_code: int | None = None) -> None:
        document = json_document(name, facts, exit_code)
        for wanted in self.receivers:
            if name not in wanted.on:
                continue
            body = slack_message(document) if wanted.format == "slack" else document
            payload = json.dumps(body, ensure_ascii=False, default=str).encode()
            self.outbox.send(wanted.target, name, payload)


def _undo_asked(notes: Notes) -> bool:
    """Whether undoing the run is what its command was asked to do: a `rollback`, or a
    `resume` that finishes an undo (its first state `undoing`): its run undone is the
    command succeeding, not a failure."""
    command = notes.run.command.command
    return command == "rollback" or (command == "resume" and notes.first == "undoing")


def _settled_by(notes: Notes) -> str:
    """What settles a run its command left before it ended (as the engine words it for an
    interrupted run: a run stopped while undoing, or a rollback's, is finished)."""
    file = notes.run.plan_file
    if notes.last == "undoing" or notes.run.command.command == "rollback":
        return f"`migrator resume {file}` or `migrator rollback {file}` finishes it"
    return f"`migrator resume {file}` continues it, `migrator rollback {file}` undoes what it did"


class NotDelivered(RuntimeError):
    """Notifications sent after the last run's end that did not arrive."""


def _check(event: RunEvent) -> dict[str, Any]:
    detail = event.detail
    return {
        "name": event.step,
        "phase": detail.get("phase"),
        "check": detail.get("check"),
        "actual": detail.get("actual"),
        "expected": detail.get("expected"),
        "detail": detail.get("detail") or None,
        "differences": detail.get("differences"),
    }


def _step(event: RunEvent) -> dict[str, Any]:
    return {"name": event.step, "error": event.detail.get("error")}
