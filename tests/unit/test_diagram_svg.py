"""The phase diagram as inline SVG: a box per phase, an arrow per transition, rows by the
distance from the initial phase, ways back told apart, plan text escaped, the same bytes
every time."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from migrator.plan import load_plan_text
from migrator.views.diagram_svg import MAX_ROW, Edge, phase_svg, runbook_svg, text_width
from migrator.views.runbook import runbook

SVG = "{http://www.w3.org/2000/svg}"

PLAN = """\
plan: scoring-results
phases: [legacy, dual_write, unified_only, retired]
transitions:
  - {name: enable_dual_write, from: legacy, to: dual_write}
  - {name: cutover, from: dual_write, to: unified_only, risk: high, approval: true}
  - {name: back_to_dual_write, from: unified_only, to: dual_write, risk: medium}
  - {name: back_to_legacy, from: dual_write, to: legacy}
  - {name: retire, from: unified_only, to: retired}
"""


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def box(root: ET.Element, phase: str) -> tuple[float, float]:
    (g,) = [g for g in groups(root, "phase") if g.get("data-phase") == phase]
    rect = g.find(f"{SVG}rect")
    assert rect is not None
    return float(rect.get("x", "nan")), float(rect.get("y", "nan"))


def test_a_box_per_phase_and_an_arrow_per_transition(registry: Any) -> None:
    doc = runbook(load_plan_text(PLAN, "p.yaml", registry), registry)
    root = parsed(runbook_svg(doc))
    assert root.tag == f"{SVG}svg" and root.get("class") == "phase-diagram"
    title = root.find(f"{SVG}title")
    assert title is not None and "scoring-results" in (title.text or "")
    phases = [g.get("data-phase") for g in groups(root, "phase")]
    assert phases == ["legacy", "dual_write", "unified_only", "retired"]
    arrows = {
        (g.get("data-transition"), g.get("data-from"), g.get("data-to"))
        for g in groups(root, "transition")
    }
    assert arrows == {
        ("enable_dual_write", "legacy", "dual_write"),
        ("cutover", "dual_write", "unified_only"),
        ("back_to_dual_write", "unified_only", "dual_write"),
        ("back_to_legacy", "dual_write", "legacy"),
        ("retire", "unified_only", "retired"),
    }
    for g in groups(root, "transition"):  # each arrow says its name, and its risk on hover
        label = g.find(f"{SVG}text")
        assert label is not None and label.text == g.get("data-transition")
        assert g.find(f"{SVG}path") is not None
    (gated,) = [g for g in groups(root, "transition") if g.get("data-transition") == "cutover"]
    assert "risk high, needs approval" in (gated.findtext(f"{SVG}title") or "")


def test_rows_by_distance_and_ways_back_drawn_otherwise(registry: Any) -> None:
    doc = runbook(load_plan_text(PLAN, "p.yaml", registry), registry)
    root = parsed(runbook_svg(doc))
    tops = {p: box(root, p)[1] for p in ("legacy", "dual_write", "unified_only", "retired")}
    assert tops["legacy"] < tops["dual_write"] < tops["unified_only"] < tops["retired"]
    kinds = {g.get("data-transition"): g.get("class") for g in groups(root, "transition")}
    assert kinds == {
        "enable_dual_write": "transition forward",
        "cutover": "transition forward",
        "back_to_dual_write": "transition back",
        "back_to_legacy": "transition back",
        "retire": "transition forward",
    }
    for g in groups(root, "transition"):
        path = g.find(f"{SVG}path")
        assert path is not None
        dashed = path.get("stroke-dasharray") is not None
        assert dashed == ("back" in (g.get("class") or ""))
        assert path.get("marker-end") == f"url(#pd-{'back' if dashed else 'forward'})"
    start = groups(root, "start")
    assert len(start) == 1  # the initial phase's start dot


def test_the_current_phase_is_highlighted(registry: Any) -> None:
    doc = runbook(load_plan_text(PLAN, "p.yaml", registry), registry)
    root = parsed(runbook_svg(doc, current="dual_write"))
    current = [g.get("data-phase") for g in groups(root, "current")]
    assert current == ["dual_write"]
    assert "current" not in runbook_svg(doc)


def test_the_same_plan_draws_the_same_bytes(registry: Any) -> None:
    doc = runbook(load_plan_text(PLAN, "p.yaml", registry), registry)
    assert runbook_svg(doc) == runbook_svg(
        runbook(load_plan_text(PLAN, "p.yaml", registry), registry)
    )


HOSTILE = "</svg><script>alert(1)</script>"


def test_hostile_names_are_text_never_markup() -> None:
    phases = ["start", HOSTILE, 'quote " & amp', "bell\x07 and \ud800 lone"]
    edges = [
        Edge(HOSTILE, "start", HOSTILE, note="<b>risk</b>"),
        Edge('"><g onload="x', HOSTILE, 'quote " & amp'),
        Edge("ring", "bell\x07 and \ud800 lone", "start"),
    ]
    svg = phase_svg(phases, edges, initial="start", current=HOSTILE, title="<title>")
    root = parsed(svg)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert not any("onload" in el.attrib for el in root.iter())
    names = [g.get("data-phase") for g in groups(root, "phase")]
    assert names == ["start", HOSTILE, 'quote " & amp', "bell\\x07 and \ufffd lone"]
    assert [g.get("data-phase") for g in groups(root, "current")] == [HOSTILE]
    arrows = [g.get("data-transition") for g in groups(root, "transition")]
    assert arrows == [HOSTILE, '"><g onload="x', "ring"]
    assert not any(el.tag.endswith("script") for el in root.iter())


def test_long_names_are_cut_in_the_box_and_whole_in_its_title() -> None:
    name = "a phase whose name goes on and on well past the width of any box"
    root = parsed(phase_svg(["short", name], [Edge("go", "short", name)], initial="short"))
    (g,) = [g for g in groups(root, "phase") if g.get("data-phase") == name]
    shown = g.findtext(f"{SVG}text") or ""
    assert shown.endswith("…") and len(shown) == 36
    assert g.findtext(f"{SVG}title") == name


def test_the_drawing_fits_its_view_box() -> None:
    phases = ["a", "b", "c", "d", "wide " * 6]
    edges = [
        Edge("one", "a", "b"),
        Edge("two", "a", "c"),
        Edge("skip ahead", "a", "d"),
        Edge("sideways", "b", "c"),
        Edge("home", "d", "a"),
        Edge("far", "c", "wide " * 6),
    ]
    svg = phase_svg(phases, edges, initial="a")
    root = parsed(svg)
    x0, y0, w, h = (float(v) for v in (root.get("viewBox") or "").split())
    numbers = [
        (float(g.get("x", "0")), float(g.get("y", "0")), float(g.get("width", "0")))
        for g in root.iter(f"{SVG}rect")
    ]
    for x, y, width in numbers:
        assert x0 <= x and x + width <= x0 + w and y0 <= y <= y0 + h
    for path in root.iter(f"{SVG}path"):
        for px, py in re.findall(r"(-?[\d.]+),(-?[\d.]+)", path.get("d") or ""):
            if path.get("marker-end"):
                assert x0 <= float(px) <= x0 + w and y0 <= float(py) <= y0 + h


def test_text_width_counts_wide_characters_twice() -> None:
    assert text_width("段階") == 2 * text_width("ab")


def test_forward_and_back_follow_the_plans_order_of_phases() -> None:
    """A plan lists its phases in order: a transition to a later phase is forward (solid,
    going down), even where a shorter way reaches that phase sooner; to an earlier one
    is back (dashed)."""
    edges = [
        Edge("to b", "a", "b"),
        Edge("to c", "a", "c"),
        Edge("b to c", "b", "c"),
        Edge("skip to d", "a", "d"),
        Edge("c to d", "c", "d"),
        Edge("d to b", "d", "b"),
    ]
    root = parsed(phase_svg(["a", "b", "c", "d"], edges, initial="a"))
    tops = [box(root, p)[1] for p in ("a", "b", "c", "d")]
    assert tops == sorted(tops) and len(set(tops)) == 4, tops  # every forward arrow goes down
    kinds = {g.get("data-transition"): g.get("class") for g in groups(root, "transition")}
    assert kinds == {
        "to b": "transition forward",
        "to c": "transition forward",
        "b to c": "transition forward",
        "skip to d": "transition forward",
        "c to d": "transition forward",
        "d to b": "transition back",
    }


def _rects(root: Any, kind: str) -> list[tuple[float, float, float, float]]:
    found = []
    for g in groups(root, kind):
        for r in g.iter(f"{SVG}rect"):
            x, y = float(r.get("x", "0")), float(r.get("y", "0"))
            found.append((x, y, x + float(r.get("width", "0")), y + float(r.get("height", "0"))))
    return found


def _overlaps(boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, one in enumerate(boxes)
        for j, other in enumerate(boxes[i + 1 :], i + 1)
        if one[0] < other[2] - 0.5
        and other[0] < one[2] - 0.5
        and one[1] < other[3] - 0.5
        and other[1] < one[3] - 0.5
    ]


def _every_arrow_named(root: Any) -> None:
    legend = " ".join(t.text or "" for g in groups(root, "legend") for t in g.iter(f"{SVG}text"))
    for g in groups(root, "transition"):
        label = g.findtext(f"{SVG}text") or ""
        name = g.get("data-transition") or ""
        named = label == name or (label.endswith("…") and name.startswith(label[:-1]))
        assert named or (label.isdigit() and f"{label}  {name}" in legend), (label, name)


DENSE = [f"p{i}" for i in range(5)]  # every phase to every other one
DENSE_EDGES = [
    Edge(f"to_p{b}_from_p{a}", f"p{a}", f"p{b}") for a in range(5) for b in range(5) if a != b
]
PARALLEL = [Edge(f"a_long_transition_name_number_{i:02d}", "a", "b") for i in range(12)] + [
    Edge(f"back_again_{i}", "b", "a") for i in range(6)
]


@pytest.mark.parametrize(
    ("phases", "edges"),
    [
        (DENSE, DENSE_EDGES),
        (["a", "b"], PARALLEL),
        (
            ["start", *(f"phase_{i:02d}" for i in range(25))],
            [Edge(f"go_to_phase_{i:02d}", "start", f"phase_{i:02d}") for i in range(25)],
        ),
    ],
    ids=["every-way-between-five", "eighteen-between-two", "fan-out-of-25"],
)
def test_labels_never_cover_one_another_nor_a_box(phases: list[str], edges: list[Edge]) -> None:
    """A label covers no box and no other label: where a name finds no free place its
    arrow gets a number, named in a legend under the drawing. Rows wrap at MAX_ROW
    boxes, so a fan-out stays as wide as a page."""
    svg = phase_svg(phases, edges, initial=phases[0])
    root = parsed(svg)
    labels, boxes = _rects(root, "transition"), _rects(root, "phase")
    assert not _overlaps(labels + boxes), _overlaps(labels + boxes)
    _every_arrow_named(root)
    tops = [box(root, p)[1] for p in phases]
    assert max(tops.count(t) for t in tops) <= MAX_ROW
    assert float((root.get("viewBox") or "").split()[2]) <= 1280
    assert svg == phase_svg(phases, edges, initial=phases[0])  # the same bytes each time


@pytest.mark.parametrize(
    "edges",
    [PARALLEL, [Edge(f"in_{i}", f"p{i}", "hub") for i in range(8)]],
    ids=["eighteen-between-two", "eight-into-one"],
)
def test_arrow_ends_are_spread_along_a_box_never_piled(edges: list[Edge]) -> None:
    """The arrows meeting one side of a box meet it apart (the box as wide as they need),
    so each arrowhead can be told from the next."""
    phases = list(dict.fromkeys(p for e in edges for p in (e.source, e.target)))
    root = parsed(phase_svg(phases, edges, initial=phases[0]))
    ends: dict[float, list[float]] = {}
    for g in groups(root, "transition"):
        path = g.find(f"{SVG}path")
        assert path is not None
        points = re.findall(r"(-?[\d.]+),(-?[\d.]+)", path.get("d") or "")
        for x, y in (points[0], points[-1]):
            ends.setdefault(float(y), []).append(float(x))
    for xs in ends.values():
        xs.sort()
        assert all(b - a >= 10 for a, b in itertools.pairwise(xs)), xs
