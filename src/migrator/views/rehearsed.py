"""What a rehearsal saw of each step, for the runbook (`migrator docs --rehearsal FILE`).

FILE is a `migrator rehearse PLAN --output json` document. Its trace of a step (SPEC.md,
"Rehearsal trace": `locks: [{relation, mode}]`, `rewritten: [relation]`) is read
defensively, wherever the document holds it: any object with `locks` or `rewritten` and
a step's name (`step` or `name`, or the key it is under), under the round trip of its
`transition`, in the leg that an enclosing `leg` (or a key named for one) says. A step
of a transition shows what its first `forward` leg did; a step of a reverse transition
what the `back` leg that ran it did; an undo, what the `back` leg that undid the step
did. A document of another plan is refused, and so is one of another version of the
plan (its `plan_checksum` differs): the locks of SQL that has changed since would
mislead. A malformed document (a `plan_checksum` that is not a string, nesting deeper than
a rehearsal writes) is refused; a value of the wrong type in an entry is passed over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrator.errors import UsageError

_LEGS = {"forward": "forward", "back": "back", "forward again": "again", "forward_again": "again"}
_UNDO = "\0undo of "  # the way back undid these steps (no reverse transition ran them)
_MODE = re.compile(r"^((?:[A-Z][a-z]+)+)Lock$")
_STRENGTH = {  # strongest first
    f"{name}Lock": rank
    for rank, name in enumerate(
        [
            "AccessExclusive",
            "Exclusive",
            "ShareRowExclusive",
            "Share",
            "ShareUpdateExclusive",
            "RowExclusive",
            "RowShare",
            "AccessShare",
        ]
    )
}


@dataclass
class Rehearsal:
    """One rehearsal document: the plan it rehearsed and each step's trace in it."""

    file: str
    plan: str
    checksum: str | None
    steps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def trace(self, transition: str, step: str) -> dict[str, Any] | None:
        """What the rehearsal saw step `step` of `transition` do, as the runbook shows it."""
        return self.steps.get((transition, step))

    def undo_trace(self, transition: str, step: str) -> dict[str, Any] | None:
        """What the undo of step `step` did, on a way back that undid `transition`'s steps."""
        return self.steps.get((_UNDO + transition, step))


def read_rehearsal(path: str | Path) -> Rehearsal:
    """The rehearsal document at `path`; one that cannot be read or is not one: exit 2."""
    shown = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--rehearsal {shown!r}: cannot read it ({exc.strerror})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--rehearsal {shown!r}: not JSON ({exc})") from None
    except RecursionError:
        raise UsageError(
            f"--rehearsal {shown!r}: not JSON this program reads (nested too deep)"
        ) from None
    not_one = f"--rehearsal {shown!r}: not the JSON of `migrator rehearse PLAN --output json`"
    if not isinstance(data, dict) or not isinstance(data.get("plan"), str):
        raise UsageError(not_one)
    checksum = data.get("plan_checksum")
    if checksum is not None and not isinstance(checksum, str):
        raise UsageError(f"{not_one} (its plan_checksum is not a string)")
    found = Rehearsal(shown, data["plan"], checksum)
    ranked: dict[tuple[str, str], int] = {}
    entries = _entries(data, None, None, None, None, 0)
    try:
        traced = list(entries)
    except _TooDeep:
        raise UsageError(f"{not_one} (nested deeper than {_DEPTH} levels)") from None
    for transition, leg, entry in traced:
        name = entry.get("step", entry.get("name", entry["_key"]))
        if not isinstance(name, str) or transition is None:
            continue
        rank = {"forward": 0, None: 1, "again": 2}.get(leg)
        if leg == "back":  # a reverse transition's steps, or the undo of the steps
            back = entry.get("_back")
            if isinstance(back, str):
                transition = back
            else:  # `undo NAME`, the undo of step NAME of the transition
                transition = _UNDO + transition
                if entry.get("undo") is True and name.startswith("undo "):
                    name = name.removeprefix("undo ")
            rank = 0
        key = (transition, name)
        if rank is not None and rank < ranked.get(key, 9):
            ranked[key] = rank
            found.steps[key] = _shown(entry)
    return found


def check_fits(rehearsal: Rehearsal, plan_name: str, checksum: str, file: str) -> None:
    """Refuse (exit 2) a rehearsal of another plan, or of another version of this one."""
    if rehearsal.plan != plan_name:
        raise UsageError(
            f"--rehearsal {rehearsal.file!r} is a rehearsal of plan '{rehearsal.plan}', "
            f"not of '{plan_name}' ({file})"
        )
    if rehearsal.checksum is not None and rehearsal.checksum != checksum:
        raise UsageError(
            f"--rehearsal {rehearsal.file!r} rehearsed another version of {file} (the plan's "
            f"checksum differs): its locks would be of SQL that has changed. Rehearse it "
            f"again: migrator rehearse {file} --output json > {rehearsal.file}"
        )


class _TooDeep(Exception):
    """A document nested deeper than any rehearsal writes one."""


_DEPTH = 32  # a rehearsal's document nests 5 deep where a step's trace is


def _entries(
    node: Any, transition: str | None, leg: str | None, back: str | None, key: Any, depth: int
) -> Iterator[tuple[str | None, str | None, dict[str, Any]]]:
    """Every object that traces a step, with its transition and leg (from its enclosers)
    and the key it is under (a step's name, when the steps are a mapping)."""
    if depth > _DEPTH and isinstance(node, (list, dict)):
        raise _TooDeep
    if isinstance(node, list):
        for item in node:
            yield from _entries(item, transition, leg, back, None, depth + 1)
        return
    if not isinstance(node, dict):
        return
    entry = "locks" in node or "rewritten" in node
    # A round trip names the plan's transition; a step's own `transition` (the run that
    # ran it: `revert tighten` on a way back that undid tighten's steps) only when none does.
    if isinstance(node.get("transition"), str) and (transition is None or not entry):
        transition = node["transition"]
    if isinstance(node.get("back"), str):
        back = node["back"]
    if isinstance(node.get("leg"), str):
        leg = _LEGS.get(node["leg"], node["leg"])
    if entry:
        yield transition, leg, {**node, "_back": back, "_key": key}
        return
    for inner_key, value in node.items():
        inner = _LEGS.get(inner_key, leg) if isinstance(inner_key, str) else leg
        yield from _entries(value, transition, inner, back, inner_key, depth + 1)


def mode_words(mode: str) -> str:
    """`AccessExclusiveLock` as people say it: `ACCESS EXCLUSIVE`."""
    match = _MODE.match(mode)
    if match is None:
        return mode
    return " ".join(re.findall(r"[A-Z][a-z]+", match.group(1))).upper()


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    """A step's trace as the runbook keeps it: locks, rewrites, lint verdicts, one line."""
    raw_locks = entry.get("locks")
    locks = (
        [
            {"relation": lock["relation"], "mode": lock["mode"]}
            for lock in raw_locks
            if isinstance(lock, dict)
            and isinstance(lock.get("relation"), str)
            and isinstance(lock.get("mode"), str)
        ]
        if isinstance(raw_locks, list) and entry.get("locks_traced") is not False
        else None  # a step outside a transaction: its locks were not traced
    )
    raw = entry.get("rewritten")
    rewritten = [r for r in raw if isinstance(r, str)] if isinstance(raw, list) else []
    given = entry.get("lint")
    verdicts: dict[str, Any] = given if isinstance(given, dict) else {}
    lint = {  # a list of rule ids; anything else (a number, a string) is no verdict
        word: [r for r in verdicts[word] if isinstance(r, str)]
        if isinstance(verdicts.get(word), list)
        else []
        for word in ("confirmed", "refuted")
    }
    text = "; ".join([_line(locks, rewritten), *_made(entry)])
    why = entry.get("not_traced")
    if isinstance(why, str):  # the tracer failed on it: nothing it shows can be trusted
        locks, rewritten, text = None, [], f"could not be traced ({' '.join(why.split())})"
    elif entry.get("locks_traced") is False:
        text = text.replace("not traced", "not traced (outside a transaction)", 1)
    return {"locks": locks, "rewritten": rewritten, "lint": lint, "text": text}


def _line(locks: list[dict[str, str]] | None, rewritten: list[str]) -> str:
    """`takes ACCESS EXCLUSIVE on public.profiles; rewrites public.events`."""
    parts: list[str] = []
    if locks is None:
        parts.append("its locks were not traced")
    elif locks:
        by_mode: dict[str, list[str]] = {}
        for lock in locks:
            by_mode.setdefault(lock["mode"], []).append(lock["relation"])
        for mode in sorted(by_mode, key=lambda m: _STRENGTH.get(m, len(_STRENGTH))):
            parts.append(f"takes {mode_words(mode)} on {', '.join(by_mode[mode])}")
    if rewritten:
        parts.append("rewrites " + ", ".join(rewritten))
    if not parts:
        return "takes no lock on a relation that was there before, and rewrites nothing"
    return "; ".join(parts)


def _made(entry: dict[str, Any]) -> list[str]:
    """The constraints and indexes the step made, as the rehearsal's own lines say them
    (a concurrent index build outside a transaction: whether it came out valid)."""
    out: list[str] = []
    constraints, indexes = entry.get("constraints"), entry.get("indexes")
    for c in constraints if isinstance(constraints, list) else []:
        if not isinstance(c, dict) or not all(
            isinstance(c.get(k), str) for k in ("type", "name", "relation")
        ):
            continue
        if c.get("change") == "validated":
            out.append(f"validates {c['type']} constraint {c['name']} on {c['relation']}")
        else:
            how = "valid" if c.get("valid") is True else "NOT VALID"
            out.append(f"adds {c['type']} constraint {c['name']} on {c['relation']} ({how})")
    for i in indexes if isinstance(indexes, list) else []:
        if isinstance(i, dict) and isinstance(i.get("index"), str):
            how = "valid" if i.get("valid") is True else "INVALID"
            out.append(f"builds index {i['index']} on {i.get('relation', '?')} ({how})")
    return out
