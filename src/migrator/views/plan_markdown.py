"""`migrator plan --output markdown`: the dry run as a pull-request comment.

GitHub and GitLab flavoured Markdown: the path from today's phase to the target, and for
each transition its risk and approval, the pre-checks as they stand today (evaluated
read-only by the dry run: `migrator.views.dryrun`), each step's exact SQL fenced (long
text folded in a `<details>`), its lint findings at FILE:LINE:COL, what a rehearsal saw
it do (its locks and rewrites, given `--rehearsal`), its undo, and the post-checks.

The first line is a marker, `<!-- migrator-plan: NAME -->`, by which a CI job finds the
comment it posted before and edits it instead of adding another. Plan text is placed
literally (`migrator.views.markdown`): a backtick fence in the SQL cannot close its
fence, a `#` or a `<details>` in a name is text. The documents given are masked already;
the caller masks the text once more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from migrator.views.markdown import code as _code
from migrator.views.markdown import escape as _md
from migrator.views.markdown import fence as _fence
from migrator.views.values import shown

FOLD_LINES = 15
"""Code longer than this many lines is folded in a `<details>` (opened by a click)."""
_VALUE_WIDTH = 120  # an actual or expected value in the pre-check table, cut with `…`


def marker(plan: str) -> str:
    """The comment's first line, the same for every run of PLAN: how CI finds its comment."""
    return f"<!-- migrator-plan: {plan} -->"


def plan_markdown(dry: dict[str, Any], book: dict[str, Any]) -> str:
    """The dry run `dry` (`dry_run_document`) as a PR comment, each step completed from the
    runbook `book` (`migrator.views.runbook.runbook`: its language, lint findings, undo and
    the rehearsal's trace)."""
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
    add(_summary(dry, book))
    add("")
    transitions = {t["name"]: t for t in book["transitions"]}
    for n, t in enumerate(dry["path"], 1):
        _transition(n, t, transitions.get(t["name"]), dry["file"], add)
    add(
        "<sub>A dry run by `migrator plan --output markdown`: nothing was changed; the "
        "pre-checks were evaluated read-only against the data of today.</sub>"
    )
    return "\n".join(out).rstrip() + "\n"


def _summary(dry: dict[str, Any], book: dict[str, Any]) -> str:
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
    if book.get("rehearsal"):
        bits.append(f"**Rehearsal:** {_code(book['rehearsal'])}")
    return " · ".join(bits)


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
