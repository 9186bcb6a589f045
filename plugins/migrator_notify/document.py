"""What a notification says: the JSON document (stable, `schema` names its version) and
the Slack message (incoming-webhook `blocks`, with `text` for where blocks do not show).
Every string masked with the command's secrets, long ones cut."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migrator.plugin import RunEvent, RunInfo

SCHEMA = "migrator.notification/1"
LONGEST = 1000
"""Characters a string of a notification keeps at most."""
DIFFERENCES = 10
"""Differences of a check a notification lists at most."""
CUT = "…"

TITLES = {
    "run_started": "started",
    "run_succeeded": "succeeded",
    "run_failed": "failed",
    "undo_failed": "UNDO FAILED: needs a person",
    "approval_needed": "needs an approval",
    "interrupted": "interrupted",
}
MARKS = {
    "run_started": ":arrow_forward:",
    "run_succeeded": ":white_check_mark:",
    "run_failed": ":x:",
    "undo_failed": ":rotating_light:",
    "approval_needed": ":raised_hand:",
    "interrupted": ":warning:",
}


@dataclass(frozen=True)
class Facts:
    """What a notification is made of: the run, its outcome, the state event, the
    failing checks, step and undo."""

    run: RunInfo
    outcome: str
    state: RunEvent
    checks: list[dict[str, Any]]
    step: dict[str, Any] | None
    undo: dict[str, Any] | None


def json_document(event: str, facts: Facts, exit_code: int | None = None) -> dict[str, Any]:
    """The JSON document a receiver in format `json` gets (see docs/integrations.md)."""
    run = facts.run
    reason = str(facts.state.detail.get("reason") or "") or None
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "event": event,
        "summary": _summary(event, facts, reason),
        "plan": run.plan,
        "plan_file": run.plan_file,
        "command": run.command.command,
        "run_id": run.run_id,
        "transition": {"name": run.transition, "from": run.source, "to": run.target},
        "operator": run.operator,
        "host": run.host,
        "database": run.database,
        "outcome": facts.outcome,
        "reason": reason,
        "checks": [
            {**check, "differences": _few(check.get("differences"))} for check in facts.checks
        ]
        if event in ("run_failed", "undo_failed", "interrupted")
        else [],
        "step": facts.step,
        "undo": facts.undo,
        "settle": facts.state.settle,
        "exit_code": exit_code,
        "at": datetime.datetime.fromtimestamp(facts.state.at, datetime.UTC).isoformat(),
    }
    cleaned: dict[str, Any] = _clean(document, run.mask)
    return cleaned


def _summary(event: str, facts: Facts, reason: str | None) -> str:
    run = facts.run
    text = (
        f"migrator {run.command.command}: plan {run.plan}, run {run.run_id} "
        f"({run.transition}: {run.source} -> {run.target}) {TITLES[event]}"
    )
    if facts.outcome in ("undone", "nothing applied", "rolled back"):
        text += f" ({facts.outcome})"
    return text + (f": {reason}" if reason else "")


def _few(differences: Any) -> Any:
    if isinstance(differences, list) and len(differences) > DIFFERENCES:
        return [*differences[:DIFFERENCES], f"... {len(differences) - DIFFERENCES} more"]
    return differences


def _clean(data: Any, mask: Callable[[str], str]) -> Any:
    """`data` with every string masked, then cut at LONGEST characters."""
    if isinstance(data, str):
        text = mask(data)
        return text if len(text) <= LONGEST else text[: LONGEST - 1] + CUT
    if isinstance(data, dict):
        return {_clean(str(k), mask): _clean(v, mask) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_clean(v, mask) for v in data]
    return data


def _plain(value: Any) -> str:
    """A value on one line as a person reads it."""
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.split())


def _difference(difference: Any) -> str:
    if not isinstance(difference, dict):
        return _plain(difference)
    key = ", ".join(
        f"{k.get('name')} {_plain(k.get('value'))}"
        for k in difference.get("key") or []
        if isinstance(k, dict)
    )
    where = difference.get("only_in")
    return f"{key}: only in {where}" if where else _plain(difference)


def slack_message(document: dict[str, Any]) -> dict[str, Any]:
    """The Slack incoming-webhook message of a notification's document. Every text of the
    document is escaped (`&`, `<`, `>`: never a ping nor a link of its own), and has no
    backtick of its own (it could open or close a code span or block); the header is plain
    text."""
    event = document["event"]
    t = {k: _esc(v) for k, v in document["transition"].items()}
    head = f"{MARKS[event]} {document['plan']}: {document['transition']['name']} {TITLES[event]}"
    fields = [
        f"*Transition*\n{t['name']} ({t['from']} → {t['to']})",
        f"*Run*\n{document['run_id']} ({_esc(document['command'])})",
        f"*Outcome*\n{_esc(document['outcome'])}",
        f"*Operator*\n{_esc(document['operator'])}",
        f"*Host*\n{_esc(document['host'])}",
        f"*Database*\n{_esc(document['database'])}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
        {"type": "section", "fields": [_mrkdwn(f) for f in fields]},
    ]
    if document["reason"]:
        blocks.append(_section(f"*Reason*\n{_esc(document['reason'])}"))
    for check in document["checks"]:
        lines = [
            f"*Check* `{_code(check['name'])}` ({_esc(check.get('phase') or '')}-check): "
            f"actual {_esc(_plain(check['actual']))}, expected {_esc(_plain(check['expected']))}"
        ]
        if check.get("detail"):
            lines.append(_esc(_plain(check["detail"])))
        differences = check.get("differences") or []
        if differences:
            lines.append("```" + "\n".join(_code(_difference(d)) for d in differences) + "```")
        blocks.append(_section("\n".join(lines)))
    for what, label in (("step", "Step"), ("undo", "Undo of")):
        if document[what]:
            failed = document[what]
            blocks.append(
                _section(f"*{label}* `{_code(failed['name'])}` failed: {_esc(failed['error'])}")
            )
    if document["settle"]:  # migrator's own words: its backticks are meant
        blocks.append(_section(f"*To settle it*\n{_esc(document['settle'], ticks=True)}"))
    blocks.append(
        {
            "type": "context",
            "elements": [_mrkdwn(f"{_esc(document['plan_file'])} · {_esc(document['at'])}")],
        }
    )
    return {"text": _esc(document["summary"]), "blocks": blocks}


def _esc(value: Any, ticks: bool = False) -> str:
    """`value` as Slack's mrkdwn shows it as written: `&`, `<` and `>` escaped, and a
    backtick (which would open or close a code span or block) shown as its look-alike U+02CB
    (`ticks`: kept, for migrator's own words)."""
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if ticks else text.replace("`", "\u02cb")


_code = _esc
"""A text inside a code span or block: escaped the same way."""


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(text, 2000)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_cut(text, 3000))}


def _cut(text: str, most: int) -> str:
    """`text` within `most` characters, never ending inside an escape (`&amp;`)."""
    if len(text) <= most:
        return text
    kept = text[: most - 1]
    amp = kept.rfind("&", max(len(kept) - 5, 0))
    if amp != -1 and ";" not in kept[amp:]:
        kept = kept[:amp]
    return kept + CUT
