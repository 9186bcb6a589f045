"""A plan's phases and transitions as a Mermaid state diagram (`migrator graph`).

The diagram is drawn by `transitions` itself (`GraphMachine(graph_engine="mermaid")`):
one state per phase, one edge per transition, labelled with its name, its risk and
whether it needs approval. The plan's first phase is the initial state (`[*] -->`);
the phase a database says the plan is in, when known, is highlighted.

Phase and transition names are free text in a plan; Mermaid is not. Each phase gets a
plain identifier, and the few characters Mermaid would read as syntax are replaced in
labels (a double quote in a phase name, `#` and `;` in an edge label).
"""

from __future__ import annotations

import re
from typing import Any

from migrator.plan.model import Plan, Transition
from migrator.views.values import visible

_RESERVED = {
    "as",
    "class",
    "classdef",
    "click",
    "direction",
    "end",
    "hide",
    "note",
    "scale",
    "state",
    "style",
}
ACTIVE_STYLE = {"fill": "#fde68a", "stroke": "#b45309", "stroke-width": "3px"}
DEFAULT_STYLE = {"fill": "white", "stroke": "black"}


def state_ids(phases: tuple[str, ...]) -> dict[str, str]:
    """A Mermaid identifier for each phase: its name where that is safe, else a cleaned one."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for phase in phases:
        base = re.sub(r"\W", "_", phase, flags=re.ASCII) or "phase"
        if base.lower() in _RESERVED or base[0].isdigit():
            base = f"phase_{base}"
        candidate, n = base, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate.lower())
        ids[phase] = candidate
    return ids


def edge_label(t: Transition) -> str:
    """`cutover (risk medium, needs approval)`; a hotfix's way back says what it does."""
    notes = [f"risk {t.risk}"]
    if t.approval:
        notes.append("needs approval")
    if t.reverts is not None:
        notes.append(f"undoes {t.reverts}")
    return _edge_text(f"{t.name} ({', '.join(notes)})")


def _edge_text(text: str) -> str:
    # Mermaid ends an edge label at a newline, '#' or ';'.
    text = visible(" ".join(text.split()))  # no escape sequence reaches a terminal
    return text.replace("#", "\uff03").replace(";", "\uff1b")


def _state_text(text: str) -> str:
    return visible(" ".join(text.split())).replace('"', "'")


def mermaid(plan: Plan, current: str | None = None) -> str:
    """The Mermaid source of `plan`'s state diagram; `current` (a phase) is highlighted."""
    from transitions import State
    from transitions.extensions import GraphMachine

    class PhaseMachine(GraphMachine):  # type: ignore[misc]
        machine_attributes = {"rankdir": "LR"}
        style_attributes = {
            "node": {"default": DEFAULT_STYLE, "active": ACTIVE_STYLE},
            "edge": {},
            "graph": {},
        }

    ids = state_ids(plan.phases)
    states = []
    for phase in plan.phases:
        state = State(ids[phase])
        state.label = _state_text(phase)  # type: ignore[attr-defined]
        states.append(state)
    edges: list[dict[str, Any]] = [
        {
            "trigger": f"t{i}",  # triggers are methods of the model: never a plan's text
            "source": ids[t.source],
            "dest": ids[t.target],
            "label": edge_label(t),
        }
        for i, t in enumerate(plan.transitions)
    ]

    class Drawing:
        """The model the machine draws; it never runs a transition."""

    model = Drawing()
    machine = PhaseMachine(
        model=model,
        states=states,
        transitions=edges,
        initial=ids[plan.initial_phase],
        auto_transitions=False,
        graph_engine="mermaid",
        title=f"title: {plan.name}",  # the front matter Mermaid reads
    )
    graph = machine.model_graphs[id(model)]
    graph.reset_styling()  # the machine marks its initial state active: only `current` is
    if current is not None and current in ids:
        graph.set_node_style(ids[current], "active")
    source = str(model.get_graph().draw(None))  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in source.splitlines()) + "\n"
