"""A plan's relation aliases made its relations' names, so that `select m.org_id from
members m` and `select org_id from members` (the same query) plan alike.

EXPLAIN VERBOSE qualifies every column with its scan's alias (`m.org_id`, or
`members.org_id` when none was written). Each scan of a relation becomes known by the
relation's name: its `Alias`, and every `alias.` that qualifies a name in the plan's texts
(outside string constants and quoted identifiers of other names). Only when that names one
thing: every relation name is scanned once, and no other node (a subquery, a CTE, a
function scan) bears one of those names as its alias; otherwise the plan is kept as it
is, and aliases that differ make the two sides differ, as before.
"""

from __future__ import annotations

from typing import Any


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan] + [node for child in plan.get("Plans", []) for node in _nodes(child)]


def _quoted(name: str) -> str:
    simple = name[:1].isalpha() or name[:1] == "_"
    simple = simple and all(c.islower() or c.isdigit() or c in "_$" for c in name)
    return name if simple else '"' + name.replace('"', '""') + '"'


def realiased(plan: dict[str, Any]) -> dict[str, Any]:
    """`plan` with each relation scan's alias replaced by the relation's name (a copy),
    when that names one thing; else `plan` itself."""
    nodes = _nodes(plan)
    scans = [n for n in nodes if "Relation Name" in n and "Alias" in n]
    names = [str(n["Relation Name"]) for n in scans]
    others = {str(n["Alias"]) for n in nodes if "Alias" in n and "Relation Name" not in n}
    others |= {str(n[k]) for n in nodes for k in ("CTE Name",) if k in n}
    if (
        len(set(names)) != len(names)
        or others & set(names)
        or others & {str(n["Alias"]) for n in scans}
    ):
        return plan
    mapping = {_quoted(str(n["Alias"])): _quoted(str(n["Relation Name"])) for n in scans}
    renamed: dict[str, Any] = _rewritten(plan, mapping)
    return renamed


def _rewritten(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {k: _rewritten(v, mapping) for k, v in value.items()}
        if "Relation Name" in value and "Alias" in value:
            out["Alias"] = value["Relation Name"]
        return out
    if isinstance(value, list):
        return [_rewritten(v, mapping) for v in value]
    if isinstance(value, str):
        return qualifiers_renamed(value, mapping)
    return value


def _calls(text: str, at: int) -> bool:
    """Whether the name that starts at `at` (plain or quoted) is followed by `(`: a
    function's name, so what qualified it was a schema."""
    j, n = at, len(text)
    if text[j : j + 1] == '"':
        j += 1
        while j < n and not (text[j] == '"' and text[j + 1 : j + 2] != '"'):
            j += 2 if text[j] == '"' else 1
        j += 1
    else:
        while j < n and (text[j].isalnum() or text[j] in "_$" or ord(text[j]) >= 128):
            j += 1
    return text[j : j + 1] == "("


def qualifiers_renamed(text: str, mapping: dict[str, str]) -> str:
    """`text` (an expression as EXPLAIN prints it) with each name in `mapping` (as printed,
    quoted if need be) that qualifies another (`m.` before a column) replaced; a name that
    qualifies a function's (`auth.uid()`) is a schema's, and kept."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "'":
            j = i + 1
            while j < n and not (text[j] == "'" and text[j + 1 : j + 2] != "'"):
                j += 2 if text[j] == "'" else 1
            out.append(text[i : j + 1])
            i = j + 1
            continue
        if ch == '"':
            j = i + 1
            while j < n and not (text[j] == '"' and text[j + 1 : j + 2] != '"'):
                j += 2 if text[j] == '"' else 1
            j += 1
        elif ch.isalpha() or ch == "_" or ord(ch) >= 128:
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$" or ord(text[j]) >= 128):
                j += 1
        else:
            out.append(ch)
            i += 1
            continue
        word = text[i:j]
        before = text[i - 1] if i else ""
        qualifies = text[j : j + 1] == "." and before != "." and word in mapping
        if qualifies and not _calls(text, j + 1):  # `auth.uid()`: a schema, not an alias
            word = mapping[word]
        out.append(word)
        i = j
    return "".join(out)
