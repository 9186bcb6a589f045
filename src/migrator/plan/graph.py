"""The phase graph: which transitions lead from one phase to another."""

from __future__ import annotations

from collections import deque

from migrator.errors import MigratorError
from migrator.plan.model import Plan, Transition


class NoPath(MigratorError):
    """No transition path, or more than one shortest path, between two phases."""


def find_path(plan: Plan, source: str, target: str) -> list[Transition]:
    """The shortest path of transitions from `source` to `target`; ambiguity is an error."""
    if target not in plan.phases:
        raise NoPath(
            f"phase '{target}' is not a phase of plan {plan.name} ({', '.join(plan.phases)})"
        )
    if source == target:
        return []
    # Breadth-first, counting how many shortest paths reach each phase.
    best: dict[str, list[list[Transition]]] = {source: [[]]}
    queue = deque([source])
    while queue:
        here = queue.popleft()
        for t in plan.transitions:
            if t.source != here:
                continue
            paths = [[*p, t] for p in best[here]]
            depth = len(paths[0])
            known = best.get(t.target)
            if known is None:
                best[t.target] = paths
                queue.append(t.target)
            elif len(known[0]) == depth:
                known.extend(paths)
    found = best.get(target)
    if not found:
        raise NoPath(f"plan {plan.name} has no path of transitions from '{source}' to '{target}'")
    if len(found) > 1:
        shown = "; ".join(" -> ".join(t.name for t in p) for p in found)
        raise NoPath(
            f"more than one shortest path from '{source}' to '{target}' ({shown}): "
            "apply an intermediate phase first"
        )
    return found[0]
