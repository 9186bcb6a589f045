"""A plan's phases and transitions as an inline SVG drawing, made at render time.

The HTML runbook (`migrator docs --output html`) and the report page (`migrator report
RUN --output html`) carry it: no JavaScript, no network, the same bytes for the same
plan. The layout is our own and small. A plan lists its phases in order: a transition
to a later phase is "forward" (a solid arrow), one to an earlier phase (or its own) is
"back" (a dashed arrow curving to the right, so a way back never hides its way there).
Each phase is a box in the row of the longest way forward to it from the initial phase
(the initial phase alone on top, a start dot above it; phases no forward transition
reaches in a last row), so every forward arrow goes down; a row of more than MAX_ROW
boxes is wrapped into several, so a fan-out stays readable. Arrows meet a box spread
along its edge. Each arrow is labelled with the transition's name where the label
covers no box and no other label; where there is no such place the arrow gets a
number instead, and a legend under the drawing names it. Its risk and approval are in
its `<title>` (a tooltip).

What a reader's tools find (the browser checks of the pages rely on it): the drawing is
`<svg class="phase-diagram">` with a `<title>`; each phase a `<g class="phase"
data-phase="NAME">` (class `phase current` for the phase the plan is in), each
transition a `<g class="transition forward|back" data-transition="NAME">`. Names are
free text in a plan: every one is escaped, and characters XML cannot hold are shown as
U+FFFD.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from migrator.views.values import cut, visible

FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
FONT_SIZE = 13
CHAR = 7.9  # a monospace character of FONT_SIZE, a little generous
BOX_HEIGHT = 34
BOX_PAD = 14
BOX_GAP = 48
ROW_GAP = 96  # between two rows' boxes: room for the arrows' labels
NAME_WIDTH = 36  # characters of a phase's name shown in its box (all of it in <title>)
LABEL_WIDTH = 30  # characters of a transition's name on its arrow
MARGIN = 16
PORT_GAP = 14.0  # between two arrow ends on a box's side
MAX_ROW = 6  # boxes in a row: a wider fan-out wraps into more rows
LEGEND_WIDTH = 60  # characters of a transition's name in the legend
FORWARD = "#24292f"
BACK = "#9a3412"
CURRENT_FILL = "#fde68a"
CURRENT_STROKE = "#b45309"

_Point = tuple[float, float]
_Curve = tuple[_Point, _Point, _Point, _Point]
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class Edge:
    """A transition as drawn: its name, its phases, and what its tooltip adds."""

    name: str
    source: str
    target: str
    note: str = ""


def edges_of(transitions: Iterable[dict[str, Any]]) -> list[Edge]:
    """The edges of a runbook document's transitions (`name`, `from`, `to`, `risk`,
    `approval`, `reverts`)."""
    edges = []
    for t in transitions:
        notes = [f"risk {t['risk']}"] if t.get("risk") else []
        if t.get("approval"):
            notes.append("needs approval")
        if t.get("reverts"):
            notes.append(f"undoes {t['reverts']}")
        edges.append(Edge(str(t["name"]), str(t["from"]), str(t["to"]), ", ".join(notes)))
    return edges


def runbook_svg(doc: dict[str, Any], current: str | None = None) -> str:
    """The drawing of a runbook document's plan (`migrator.views.runbook.runbook`)."""
    return phase_svg(
        doc["phases"],
        edges_of(doc["transitions"]),
        initial=doc["initial_phase"],
        current=current,
        title=f"The phases of plan {doc['plan']} and the transitions between them",
    )


def phase_svg(
    phases: Sequence[str],
    edges: Sequence[Edge],
    *,
    initial: str | None,
    current: str | None = None,
    title: str = "",
    ids: str = "pd",
    marked: str | None = None,
) -> str:
    """The drawing of `phases` and `edges` as an `<svg class="phase-diagram">` element.

    `initial` is the phase the rows are counted from; `current` (a phase) is highlighted;
    `title` is the drawing's `<title>`; `ids` prefixes the ids of its arrowheads (give
    each drawing of a page its own); `marked` (a transition's name) is drawn bold, class
    `transition ... marked` (a report's run)."""
    names = list(dict.fromkeys([*phases, *(p for e in edges for p in (e.source, e.target))]))
    layout = _Layout(names, edges, initial)
    out: list[str] = []
    for edge in edges:
        out.append(layout.edge(edge, ids, edge.name == marked))
    for name in names:
        out.append(layout.box(name, current))
    if initial in layout.boxes:
        out.append(layout.start(initial, ids))
    if layout.numbered:
        out.append(layout.legend())
    x0, y0, x1, y1 = layout.bounds()
    width, height = x1 - x0, y1 - y0
    head = (
        '<svg class="phase-diagram" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="{_n(x0)} {_n(y0)} {_n(width)} {_n(height)}" width="{_n(width)}" '
        f'height="{_n(height)}" font-family="{FONT}" font-size="{FONT_SIZE}">'
    )
    what = title or "Phases and transitions"
    described = f"{what}: " + "; ".join(f"{e.source} → {e.target} by {e.name}" for e in edges)
    defs = (
        "<defs>"
        + "".join(
            f'<marker id="{_a(ids)}-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" '
            'orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            for kind, color in (("forward", FORWARD), ("back", BACK))
        )
        + "</defs>"
    )
    return "\n".join([head, f"<title>{_t(described)}</title>", defs, *out, "</svg>"]) + "\n"


def text_width(text: str) -> float:
    """How wide `text` is in FONT: a wide (East Asian) character counts two."""
    return CHAR * sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class _Layout:
    """Where each box and arrow goes."""

    def __init__(self, names: list[str], edges: Sequence[Edge], initial: str | None) -> None:
        self.order = {name: i for i, name in enumerate(names)}
        self.rows = _rows(names, edges, initial)
        self.row_of = {name: r for r, row in enumerate(self.rows) for name in row}
        ends = _ends(edges, self.row_of)  # a box as wide as the arrows meeting it need
        widths = {
            n: max(72.0, text_width(cut(n, NAME_WIDTH)) + 2 * BOX_PAD, PORT_GAP * (ends[n] + 1))
            for n in names
        }
        row_widths = [sum(widths[n] for n in row) + BOX_GAP * (len(row) - 1) for row in self.rows]
        widest = max(row_widths, default=0.0)
        self.boxes: dict[str, tuple[float, float, float]] = {}  # name: (left, top, width)
        top = 0.0
        for row, row_width in zip(self.rows, row_widths, strict=True):
            left = (widest - row_width) / 2
            for name in row:
                self.boxes[name] = (left, top, widths[name])
                left += widths[name] + BOX_GAP
            top += BOX_HEIGHT + ROW_GAP
        self.points: list[tuple[float, float]] = [
            corner
            for left, top, width in self.boxes.values()
            for corner in ((left, top), (left + width, top + BOX_HEIGHT))
        ]
        pairs = {(e.source, e.target) for e in edges}
        self.both_ways = {p for p in pairs if (p[1], p[0]) in pairs}
        self.ports = _ports(edges, self.boxes, self.row_of)
        self.taken: list[tuple[float, float, float, float]] = [
            (left, top, left + width, top + BOX_HEIGHT) for left, top, width in self.boxes.values()
        ]
        self.numbered: list[Edge] = []  # arrows whose label found no free place

    def forward(self, e: Edge) -> bool:
        """To a later phase in the plan's order."""
        return self.order[e.target] > self.order[e.source]

    def box(self, name: str, current: str | None) -> str:
        left, top, width = self.boxes[name]
        here = name == current
        cls = "phase current" if here else "phase"
        fill, stroke, stroke_width = (
            (CURRENT_FILL, CURRENT_STROKE, 3) if here else ("#ffffff", FORWARD, 1.5)
        )
        shown = cut(name, NAME_WIDTH)
        return (
            f'<g class="{cls}" data-phase="{_a(name)}">'
            f"<title>{_t(name + (' (the phase the plan is in)' if here else ''))}</title>"
            f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(width)}" height="{BOX_HEIGHT}" '
            f'rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"/>'
            f'<text x="{_n(left + width / 2)}" y="{_n(top + BOX_HEIGHT / 2)}" '
            f'text-anchor="middle" dominant-baseline="central" fill="{FORWARD}">'
            f"{_t(shown)}</text></g>"
        )

    def start(self, initial: str, ids: str) -> str:
        left, top, width = self.boxes[initial]
        x = left + width / 2
        self.points += [(x - 6, top - 40), (x + 6, top - 40)]
        return (
            '<g class="start"><title>the initial phase</title>'
            f'<circle cx="{_n(x)}" cy="{_n(top - 34)}" r="6" fill="{FORWARD}"/>'
            f'<path d="M{_n(x)},{_n(top - 28)} L{_n(x)},{_n(top - 2)}" stroke="{FORWARD}" '
            f'stroke-width="1.5" fill="none" marker-end="url(#{_a(ids)}-forward)"/></g>'
        )

    def edge(self, e: Edge, ids: str, marked: bool = False) -> str:
        forward = self.forward(e)
        down = self.row_of[e.target] > self.row_of[e.source]
        kind = "forward" if forward else "back"
        weight, bold, also = (3, ' font-weight="bold"', " marked") if marked else (1.5, "", "")
        color = FORWARD if forward else BACK
        (sx, sy), (tx, ty) = self.ports[e]
        if e.source == e.target:  # a loop on the box's right side
            left, top, width = self.boxes[e.source]
            sx, sy, tx, ty = left + width, top + 10, left + width, top + BOX_HEIGHT - 10
            c1, c2 = (sx + 50, sy - 20), (tx + 50, ty + 20)
        elif down:
            span = self.row_of[e.target] - self.row_of[e.source]
            shift = -8 if (e.source, e.target) in self.both_ways else 0
            sx, tx = sx + shift, tx + shift
            bend = -60.0 * (span - 1)  # past the rows between, on the left
            c1, c2 = (sx + bend, sy + ROW_GAP / 2), (tx + bend, ty - ROW_GAP / 2)
        else:
            shift = 8 if (e.source, e.target) in self.both_ways else 0
            sx, tx = sx + shift, tx + shift
            bulge = 50.0 + 30.0 * abs(self.row_of[e.source] - self.row_of[e.target])
            if sy == ty:  # sideways in one row: under it, deeper the further it goes
                bulge = 30.0 + abs(tx - sx) / 4
                c1, c2 = (sx, sy + bulge), (tx, ty + bulge)
            else:
                c1, c2 = (sx + bulge, sy - ROW_GAP / 3), (tx + bulge, ty + ROW_GAP / 3)
        label = cut(e.name, LABEL_WIDTH)
        half = text_width(label) / 2 + 4
        left_of = down and (e.source, e.target) in self.both_ways  # the way back is right
        curve = ((sx, sy), c1, c2, (tx, ty))
        spot = self.label_at(curve, half, left_of)
        if spot is None:  # no free place for the name: a number, named in the legend
            self.numbered.append(e)
            label = str(len(self.numbered))
            half = text_width(label) / 2 + 5
            spot = self.label_at(curve, half, False, reach=8) or _at(curve, 0.5)
        mx, my = spot
        self.points += [c1, c2, (mx - half, my - 10), (mx + half, my + 10)]
        tip = f"{e.name}: {e.source} → {e.target}" + (f" ({e.note})" if e.note else "")
        dashes = "" if forward else ' stroke-dasharray="6 4"'
        return (
            f'<g class="transition {kind}{also}" '
            f'data-transition="{_a(e.name)}" '
            f'data-from="{_a(e.source)}" data-to="{_a(e.target)}">'
            f"<title>{_t(tip)}</title>"
            f'<path d="M{_n(sx)},{_n(sy)} C{_n(c1[0])},{_n(c1[1])} {_n(c2[0])},{_n(c2[1])} '
            f'{_n(tx)},{_n(ty)}" fill="none" stroke="{color}" stroke-width="{weight}"{dashes} '
            f'marker-end="url(#{_a(ids)}-{kind})"/>'
            f'<rect x="{_n(mx - half)}" y="{_n(my - 10)}" width="{_n(2 * half)}" height="20" '
            'rx="4" fill="#ffffff" fill-opacity="0.9"/>'
            f'<text x="{_n(mx)}" y="{_n(my)}" text-anchor="middle" dominant-baseline="central" '
            f'fill="{color}"{bold}>{_t(label)}</text></g>'
        )

    def label_at(
        self, curve: _Curve, half: float, left_of: bool, reach: int = 1
    ) -> tuple[float, float] | None:
        """Where an arrow's label goes: its middle, else a little before or after it, or
        beside the arrow there (up to `reach` labels' widths away), where it covers no
        box and no label placed before; None when there is no such place."""
        steps = [k * (half + 6) for k in range(1, reach + 1)]
        shifts = [0.0, *(d for step in steps for d in (step, -step))]
        for t in (0.5, 0.35, 0.65, 0.25, 0.75, 0.15, 0.85):
            x, y = _at(curve, t)
            if left_of:
                x -= half + 6
            for dx in shifts:
                spot = (x + dx - half, y - 10, x + dx + half, y + 10)
                if not any(_overlap(spot, other) for other in self.taken):
                    self.taken.append(spot)
                    return x + dx, y
        return None

    def legend(self) -> str:
        """Under the drawing, the name of each arrow drawn with a number."""
        _, _, _, bottom = self.bounds()
        left = min(x for x, _ in self.points)
        lines = []
        for n, e in enumerate(self.numbered, 1):
            y = bottom - MARGIN + 14 + 20 * (n - 1)
            text = f"{n}  {cut(e.name, LEGEND_WIDTH)}: {e.source} → {e.target}"
            text = cut(text, LEGEND_WIDTH + 40)
            self.points += [(left, y - 10), (left + text_width(text), y + 10)]
            lines.append(
                f'<text x="{_n(left)}" y="{_n(y)}" dominant-baseline="central" '
                f'fill="{BACK if not self.forward(e) else FORWARD}">{_t(text)}</text>'
            )
        return (
            '<g class="legend"><title>the arrows drawn with a number</title>'
            + "".join(lines)
            + "</g>"
        )

    def bounds(self) -> tuple[float, float, float, float]:
        xs = [x for x, _ in self.points] or [0.0]
        ys = [y for _, y in self.points] or [0.0]
        return min(xs) - MARGIN, min(ys) - MARGIN, max(xs) + MARGIN, max(ys) + MARGIN


def _rows(names: list[str], edges: Sequence[Edge], initial: str | None) -> list[list[str]]:
    """The phases in rows: each in the row of the longest way forward (to later phases
    in `names`' order, which is a topological order of those transitions) from
    `initial`; those it does not reach in one last row. Each row in `names`' order, and
    wrapped into rows of at most MAX_ROW."""
    order = {name: i for i, name in enumerate(names)}
    layer: dict[str, int] = {}
    if initial in order:
        layer[initial] = 0
        for name in names[order[initial] :]:
            if name not in layer:
                continue
            for e in edges:
                if e.source == name and order[e.target] > order[name]:
                    layer[e.target] = max(layer.get(e.target, 0), layer[name] + 1)
    last = max(layer.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(last + 1)]
    for name in names:
        layers[layer.get(name, last)].append(name)
    return [row[i : i + MAX_ROW] for row in layers for i in range(0, len(row), MAX_ROW)]


def _ports(
    edges: Sequence[Edge],
    boxes: dict[str, tuple[float, float, float]],
    row_of: dict[str, int],
) -> dict[Edge, tuple[tuple[float, float], tuple[float, float]]]:
    """Where each arrow leaves its source and reaches its target: forward arrows from a
    box's bottom to the next box's top, others from its top (or bottom, sideways), the
    arrows at one side of a box spread along it."""
    sides: dict[tuple[str, str], list[tuple[float, Edge, str]]] = {}
    for e in edges:
        out_side, in_side = _sides(e, row_of)
        sides.setdefault((e.source, out_side), []).append((_centre(boxes, e.target), e, "out"))
        sides.setdefault((e.target, in_side), []).append((_centre(boxes, e.source), e, "in"))
    ends: dict[Edge, dict[str, tuple[float, float]]] = {e: {} for e in edges}
    for (name, side), items in sides.items():
        left, top, width = boxes[name]
        items.sort(key=lambda item: item[0])
        step = min(18.0, max(PORT_GAP, width / (len(items) + 1)))
        y = top + BOX_HEIGHT if side == "bottom" else top
        for i, (_, e, end) in enumerate(items):
            x = left + width / 2 + (i - (len(items) - 1) / 2) * step
            ends[e][end] = (x, y)
    return {e: (ends[e]["out"], ends[e]["in"]) for e in edges}


def _sides(e: Edge, row_of: dict[str, int]) -> tuple[str, str]:
    """The side of its source an arrow leaves from, and of its target it reaches."""
    down = row_of[e.target] > row_of[e.source]
    same_row = row_of[e.target] == row_of[e.source]
    return ("bottom" if down or same_row else "top"), ("top" if down else "bottom")


def _ends(edges: Sequence[Edge], row_of: dict[str, int]) -> dict[str, int]:
    """Of each phase, how many arrow ends meet its busiest side."""
    count: dict[tuple[str, str], int] = {}
    for e in edges:
        out_side, in_side = _sides(e, row_of)
        for key in ((e.source, out_side), (e.target, in_side)):
            count[key] = count.get(key, 0) + 1
    busiest: dict[str, int] = {name: 0 for name in row_of}
    for (name, _), n in count.items():
        busiest[name] = max(busiest[name], n)
    return busiest


def _centre(boxes: dict[str, tuple[float, float, float]], name: str) -> float:
    left, _, width = boxes[name]
    return left + width / 2


def _at(curve: _Curve, t: float) -> tuple[float, float]:
    """The point at `t` (0 to 1) along a cubic Bézier curve."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = curve
    a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
    return a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def _overlap(one: tuple[float, ...], other: tuple[float, ...]) -> bool:
    return one[0] < other[2] and other[0] < one[2] and one[1] < other[3] and other[1] < one[3]


def _n(value: float) -> str:
    """A coordinate as the same short text every time."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", visible(text))


def _t(text: str) -> str:
    """Plan text as the content of an element."""
    return escape(_clean(text), quote=False)


def _a(text: str) -> str:
    """Plan text as an attribute's value (always in double quotes)."""
    return escape(_clean(text), quote=True)
