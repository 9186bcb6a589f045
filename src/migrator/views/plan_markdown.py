"""`migrator plan --output markdown`: the dry run as a pull-request comment.

GitHub and GitLab flavoured Markdown: the path from today's phase to the target, and for
each transition its risk and approval, the pre-checks as they stand today (evaluated
read-only by the dry run: `migrator.views.dryrun`), each step's exact SQL fenced (long
text folded in a `<details>`), its lint findings at FILE:LINE:COL, what a rehearsal saw
it do (its locks and rewrites, given `--rehearsal`), its undo, and the post-checks. Given
a rehearsal, its verdict leads: passed, or failed with each failed leg, what an undo did
not restore, the checks that did not pass. At most MAX_LENGTH characters: the longest
fenced bodies are cut first, saying where the whole text is (`bounded`).

The first line is a marker, `<!-- migrator-plan: NAME -->`, by which a CI job finds the
comment it posted before and edits it instead of adding another. Plan text is placed
literally (`migrator.views.markdown`): a backtick fence in the SQL cannot close its
fence, a `#` or a `<details>` in a name is text. The documents given are masked already;
the caller masks the text once more.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from migrator.views.markdown import code as _code
from migrator.views.markdown import escape as _md
from migrator.views.markdown import fence as _fence
from migrator.views.values import shown

FOLD_LINES = 15
"""Code longer than this many lines is folded in a `<details>` (opened by a click)."""
_VALUE_WIDTH = 120  # an actual or expected value in the pre-check table, cut with `…`
_LOG_LINES = 40  # of what a rehearsal's failing run printed, its last lines
MAX_LENGTH = 60_000
"""A comment is at most this many characters (GitHub refuses one over 65,536)."""


def marker(plan: str) -> str:
    """The comment's first line, the same for every run of PLAN: how CI finds its comment."""
    return f"<!-- migrator-plan: {plan} -->"


def plan_markdown(
    dry: dict[str, Any],
    book: dict[str, Any],
    rehearsed: dict[str, Any] | None = None,
    *,
    limit: int = MAX_LENGTH,
) -> str:
    """The dry run `dry` (`dry_run_document`) as a PR comment, each step completed from the
    runbook `book` (`migrator.views.runbook.runbook`: its language, lint findings, undo and
    the rehearsal's trace), and the verdict of the rehearsal `rehearsed` (the `rehearse
    --output json` document: passed or failed, each round trip's failed leg, differences
    and checks not passed). At most `limit` characters (`bounded`)."""
    out: list[str] = []
    add = out.append
    add(marker(dry["plan"]))
    path = [t["name"] for t in dry["path"]]
    add(f"### migrator plan: {_code(dry['plan'])} ({_code(dry['file'])})")
    add("")
    add(f"**Path:** {_code(dry['from'])} → {_code(dry['to'])}")
    if path:
        add(f"by {', '.join(_code(name) for name in path)}")
    else:
        add("")
        add(f"The plan is already in phase {_code(dry['to'])}: `apply` would do nothing.")
    add("")
    add(_summary(dry, book, rehearsed))
    add("")
    if rehearsed is not None:
        _rehearsal(rehearsed, book.get("rehearsal") or "", add)
    transitions = {t["name"]: t for t in book["transitions"]}
    for n, t in enumerate(dry["path"], 1):
        _transition(n, t, transitions.get(t["name"]), dry["file"], add)
    add(
        "<sub>A dry run by `migrator plan --output markdown`: nothing was changed; the "
        "pre-checks were evaluated read-only against the data of today.</sub>"
    )
    return bounded("\n".join(out).rstrip() + "\n", limit, dry["file"])


def _summary(dry: dict[str, Any], book: dict[str, Any], rehearsed: dict[str, Any] | None) -> str:
    failing = [c["name"] for t in dry["path"] for c in t["pre_checks"] if not c["today"]["passed"]]
    names = {t["name"] for t in dry["path"]}
    lint = sum(
        len(s.get("lint") or [])
        for t in book["transitions"]
        if t["name"] in names
        for s in t["steps"]
    )
    bits = [
        f"**Pre-checks failing today:** {len(failing)}" if failing else "**Pre-checks:** all pass",
        f"**Lint findings:** {lint}" if lint else "**Lint findings:** none",
        f"**Highest risk:** {_highest(dry)}",
    ]
    gated = [t["name"] for t in dry["path"] if t["approval"]]
    if gated:
        bits.append(f"**Approval:** {', '.join(_code(g) for g in gated)}")
    if rehearsed is not None:
        bits.append(f"**Rehearsal:** {_passed(rehearsed)}")
    elif book.get("rehearsal"):
        bits.append(f"**Rehearsal:** {_code(book['rehearsal'])}")
    return " · ".join(bits)


def _passed(rehearsed: dict[str, Any]) -> str:
    """The rehearsal's verdict: passed only when its document says `clean` and exit 0."""
    if rehearsed.get("result") == "clean" and rehearsed.get("exit_code") == 0:
        return "✅ passed"
    trips = _trips(rehearsed)
    bad = [t for t in trips if t.get("outcome") not in ("clean", "irreversible")]
    said = f" ({len(bad)} of {len(trips)} round trips not clean)" if bad else ""
    return f"❌ **failed**{said}"


def _trips(rehearsed: dict[str, Any]) -> list[dict[str, Any]]:
    trips = rehearsed.get("round_trips")
    return [t for t in trips if isinstance(t, dict)] if isinstance(trips, list) else []


def _rehearsal(rehearsed: dict[str, Any], file: str, add: Callable[[str], None]) -> None:
    """The rehearsal's verdict and, for each round trip, what failed: the failed leg and
    its error, what the way back did not restore, the checks that did not pass."""
    add(f"**Rehearsal** ({_code(file)}): {_passed(rehearsed)}")
    add("")
    for t in _trips(rehearsed):
        outcome = str(t.get("outcome", "?"))
        mark = "✅" if outcome in ("clean", "irreversible") else "❌"
        if outcome == "irreversible":
            outcome = "irreversible by design, not taken back"
        legs = ", ".join(str(leg) for leg in t.get("legs") or [])
        add(
            f"- {mark} {_code(t.get('transition', '?'))} ({_code(t.get('from', '?'))} → "
            f"{_code(t.get('to', '?'))}): {outcome}"
            + (f"; legs run: {_md(legs, one_line=True)}" if legs else "")
        )
        if t.get("failed"):
            add(f"  - failed: {_md(t['failed'], one_line=True)}")
        for d in t.get("differences") or []:
            if isinstance(d, dict):
                leg = _md(d.get("leg", ""), one_line=True)
                add(f"  - not restored ({leg}): {_md(d.get('message', ''), one_line=True)}")
        for c in t.get("checks_not_passed") or []:
            if isinstance(c, dict):
                why = f": {_md(c['detail'], one_line=True)}" if c.get("detail") else ""
                add(
                    f"  - check not passed on the copy ({_md(c.get('leg', ''), one_line=True)}): "
                    f"{_md(c.get('check', ''), one_line=True)}, actual "
                    f"{_code(shown(c.get('actual'), _VALUE_WIDTH))}, expected "
                    f"{_code(shown(c.get('expected'), _VALUE_WIDTH))}{why}"
                )
    for n in rehearsed.get("not_rehearsed") or []:
        if isinstance(n, dict):
            add(
                f"- {_code(n.get('transition', '?'))}: not rehearsed "
                f"({_md(n.get('reason', ''), one_line=True)})"
            )
    add("")
    logs = [t for t in _trips(rehearsed) if t.get("log")]
    for t in logs:
        lines = str(t["log"]).rstrip().splitlines()[-_LOG_LINES:]
        add("<details>")
        name = _md(t.get("transition", "?"), one_line=True)
        add(f"<summary>What the failing run of {name} printed</summary>")
        add("")
        add(_fence("\n".join(lines)))
        add("")
        add("</details>")
        add("")


def _highest(dry: dict[str, Any]) -> str:
    risks = ["low", "medium", "high"]
    found = [t["risk"] for t in dry["path"] if t["risk"] in risks]
    return max(found, key=risks.index) if found else "-"


def _transition(
    n: int, t: dict[str, Any], book: dict[str, Any] | None, file: str, add: Callable[[str], None]
) -> None:
    add(f"#### {n}. {_md(t['name'], one_line=True)}: {_code(t['from'])} → {_code(t['to'])}")
    add("")
    gate = "**required**" if t["approval"] else "not required"
    add(f"**Risk:** {t['risk']} · **Approval:** {gate}")
    add("")
    if t["description"]:
        add(_md(t["description"]))
        add("")
    languages = {
        (kind, c["name"]): c.get("language", "")
        for kind in ("pre_checks", "post_checks")
        for c in (book or {}).get(kind, [])
    }
    if t["pre_checks"]:
        _pre_checks(t["pre_checks"], add)
        add("<details>")
        add("<summary>What the pre-checks run</summary>")
        add("")
        for c in t["pre_checks"]:
            add(f"**{_md(c['name'], one_line=True)}** ({_code(c['check'])})")
            add("")
            add(_fence(c["describe"], languages.get(("pre_checks", c["name"]), "")))
            add("")
        add("</details>")
        add("")
    steps = {s["name"]: s for s in (book or {}).get("steps", [])}
    for i, step in enumerate(t["steps"], 1):
        _step(i, step, steps.get(step["name"]), file, add)
    if t["post_checks"]:
        add("**Post-checks** (after the steps; a failure undoes the run):")
        add("")
        for c in t["post_checks"]:
            expect = f", expect {_code(c['expect'])}" if c["expect"] else ""
            add(f"- {_md(c['name'], one_line=True)} ({_code(c['check'])}{expect})")
            add("")
            language = languages.get(("post_checks", c["name"]), "")
            _folded(c["describe"], language, add)


def _pre_checks(checks: list[dict[str, Any]], add: Callable[[str], None]) -> None:
    later = any(c["today"]["after_earlier_transitions"] for c in checks)
    note = " (before the earlier transitions ran)" if later else ""
    add(f"**Pre-checks today**{note}:")
    add("")
    add("| | pre-check | actual | expected |")
    add("| --- | --- | --- | --- |")
    for c in checks:
        today = c["today"]
        verdict = "✅ passes" if today["passed"] else "❌ **fails**"
        actual = _code(shown(today["actual"], _VALUE_WIDTH), in_table=True)
        expected = _code(shown(today["expected"], _VALUE_WIDTH), in_table=True)
        add(f"| {verdict} | {_md(c['name'], one_line=True)} | {actual} | {expected} |")
    add("")
    for c in checks:
        if c["today"]["detail"] and not c["today"]["passed"]:
            add(f"- {_md(c['name'], one_line=True)}: {_md(c['today']['detail'], one_line=True)}")
    if any(c["today"]["detail"] and not c["today"]["passed"] for c in checks):
        add("")


def _step(
    i: int, s: dict[str, Any], book: dict[str, Any] | None, file: str, add: Callable[[str], None]
) -> None:
    book = book or {}
    add(f"**Step {i}. {_md(s['name'], one_line=True)}** ({_code(s['action'])})")
    add("")
    _folded(s["describe"], book.get("language", ""), add)
    if s.get("preview"):
        add("Today:")
        add("")
        add(_fence(s["preview"]))
        add("")
    findings = book.get("lint") or []
    _findings([f for f in findings if not f.get("in_undo")], file, add)
    trace = book.get("rehearsal")
    if trace:
        add(f"**Rehearsed:** {_md(trace['text'], one_line=True)}")
        add("")
    undo = book.get("undo")
    if undo is None or str(s["action"]).startswith("undo:"):  # an undo is not undone
        return
    if undo["kind"] == "irreversible":
        add("**Undo:** nothing: marked irreversible")
    elif undo["kind"] == "none":
        add("**Undo:** nothing: no rollback given")
    elif undo["kind"] == "rollback":
        add("**Undo:**")
        add("")
        add(_fence(undo["text"], undo["language"]))
    else:
        add(f"**Undo:** {_md(undo['text'], one_line=True)}")
    add("")
    _findings([f for f in findings if f.get("in_undo")], file, add)


def _findings(findings: list[dict[str, Any]], file: str, add: Callable[[str], None]) -> None:
    """Lint findings as a list, each with its rule and FILE:LINE:COL."""
    for f in findings:
        where = f"{file}:{f['line']}:{f['column']}"
        add(f"- ⚠️ {_code(f['rule'])} at {_code(where)}: {_md(f['message'], one_line=True)}")
    if findings:
        add("")


def _folded(text: str, language: str, add: Callable[[str], None]) -> None:
    """`text` fenced, inside a `<details>` when longer than FOLD_LINES lines."""
    block = _fence(text, language)
    lines = len(str(text).splitlines())
    if lines <= FOLD_LINES:
        add(block)
        add("")
        return
    add("<details>")
    add(f"<summary>{'SQL' if language == 'sql' else 'text'} ({lines} lines)</summary>")
    add("")
    add(block)
    add("")
    add("</details>")
    add("")


_OPENING = re.compile(r"^(`{3,})[A-Za-z0-9_+-]*$")


def bounded(text: str, limit: int, file: str) -> str:
    """`text` in at most `limit` characters: the longest fenced bodies (SQL, a log) cut
    first, each to the same number of characters at a line's end, a line after its fence
    saying how much was cut and where the whole text is (`file`); never inside a fence's
    markup, so the Markdown stays valid. Should that not do, the document is cut at a
    line outside any fence, its open `<details>` closed."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    blocks = _blocks(lines)
    longest = max((sum(len(lines[i]) + 1 for i in b) for b in blocks), default=0)
    low, high = 0, longest  # the largest body size that fits
    while low < high:
        cap = (low + high + 1) // 2
        if len(_capped(lines, blocks, cap, file)) <= limit:
            low = cap
        else:
            high = cap - 1
    fitted = _capped(lines, blocks, low, file)
    return fitted if len(fitted) <= limit else _cut(fitted, limit, file)


def _blocks(lines: list[str]) -> list[range]:
    """The line numbers of each fenced body (between its opening and closing fence)."""
    found: list[range] = []
    i = 0
    while i < len(lines):
        opening = _OPENING.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j] == opening[1]), None)
        if end is None:
            break
        found.append(range(i + 1, end))
        i = end + 1
    return found


def _capped(lines: list[str], blocks: list[range], cap: int, file: str) -> str:
    out: list[str] = []
    starts = {b.start: b for b in blocks if sum(len(lines[i]) + 1 for i in b) > cap}
    i = 0
    while i < len(lines):
        body = starts.get(i)
        if body is None:
            out.append(lines[i])
            i += 1
            continue
        kept, size = 0, 0
        while kept < len(body) and size + len(lines[body[kept]]) + 1 <= cap:
            size += len(lines[body[kept]]) + 1
            kept += 1
        out.extend(lines[body.start : body.start + kept])
        out.append(lines[body.stop])  # the closing fence
        out.append("")
        out.append(
            f"*… {len(body) - kept} of {len(body)} lines cut to fit a comment: the whole "
            f"text is in {_code(file)}.*"
        )
        i = body.stop + 1
    return "\n".join(out)


def _cut(text: str, limit: int, file: str) -> str:
    """`text` cut at the last line outside a fence that leaves room for the closing lines."""
    note = f"\n*… the rest cut to fit a comment: run `migrator plan` on {_code(file)}.*\n"
    lines = text.split("\n")
    inside = {i for b in _blocks(lines) for i in range(b.start - 1, b.stop + 1)}
    size, opened, keep, opened_at_keep = 0, 0, 0, 0
    for i, line in enumerate(lines):
        size += len(line) + 1
        opened = max(0, opened + (line == "<details>") - (line == "</details>"))
        if size + len(note) + 12 * opened > limit:
            break
        if i not in inside:
            keep, opened_at_keep = i + 1, opened
    closing = "\n</details>" * opened_at_keep
    return "\n".join(lines[:keep]) + closing + "\n" + note
