"""YAML loading that remembers where every value came from.

PyYAML forgets positions once it builds Python objects, silently keeps the last
of two duplicate keys and turns dates into `datetime`. This loader composes the
node tree itself, rejects duplicate keys, keeps dates as strings, and records for
every path in the document the line and column of its key and of its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import PlanError, Problem

PathKey = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: dates stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass
class SourceDocument:
    """A parsed YAML document and the position of every key and value in it."""

    file: str
    data: Any
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def position(self, path: PathKey, *, key: bool = False) -> Position:
        """The position of `path`, or of its nearest ancestor that has one.

        With `key=True` the position of the mapping key naming the value is
        preferred (where "unknown key" errors should point).
        """
        probe = tuple(path)
        while True:
            if key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return Position(1, 1)
            probe = probe[:-1]

    def problem(
        self, path: PathKey, message: str, *, severity: str = "error", key: bool = False
    ) -> Problem:
        pos = self.position(path, key=key)
        return Problem(
            file=self.file,
            line=pos.line,
            column=pos.column,
            path=dotted(path),
            message=message,
            severity="warning" if severity == "warning" else "error",
        )


def dotted(path: PathKey) -> str:
    """`('transitions', 1, 'steps', 0)` -> `transitions[1].steps[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, file: str) -> SourceDocument:
    """Parse one YAML document; raise PlanError pointing at syntax errors and duplicate keys."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects control characters here
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise PlanError([Problem(file, line, column, "", f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise PlanError([Problem(file, 1, 1, "", f"YAML error: {exc}")]) from None
    except RecursionError:  # PyYAML composes recursively: hostile nesting ends here
        line, column = _deepest_open(text)
        message = "nested too deeply to be a plan"
        raise PlanError([Problem(file, line, column, "", message)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    doc = SourceDocument(file=file, data=None)
    if root is None:
        raise PlanError([Problem(file, 1, 1, "", "the file is empty: a plan is a YAML mapping")])
    problems: list[Problem] = []
    budget = [_MAX_VALUES]
    doc.data = _build(root, (), doc, loader, problems, depth=0, budget=budget)
    if problems:
        raise PlanError(problems)
    return doc


_MAX_DEPTH = 200
_MAX_VALUES = 200_000  # aliases expand into copies: a few lines could otherwise explode


def _deepest_open(text: str) -> tuple[int, int]:
    """Where bracket nesting first passes `_MAX_DEPTH` (1-based line and column)."""
    depth = 0
    line, column = 1, 0
    for ch in text:
        column += 1
        if ch == "\n":
            line, column = line + 1, 0
        elif ch in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return line, column
        elif ch in "]}":
            depth = max(0, depth - 1)
    return 1, 1


def _build(
    node: yaml.Node,
    path: PathKey,
    doc: SourceDocument,
    loader: _Loader,
    problems: list[Problem],
    depth: int,
    budget: list[int],
) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        if budget[0] == -1:
            message = f"the document expands to more than {_MAX_VALUES} values (through aliases?)"
            problems.append(doc.problem(path, message))
        return None
    doc.values[path] = _mark(node)
    if depth > _MAX_DEPTH:
        problems.append(doc.problem(path, "nested too deeply"))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
            except yaml.YAMLError as exc:
                problems.append(doc.problem(path, f"invalid key: {exc}"))
                continue
            if not isinstance(key, str | int | float | bool):
                problems.append(doc.problem(path, "mapping keys must be plain scalars"))
                continue
            key = key if isinstance(key, str) else str(key).lower()
            child = (*path, key)
            if key in result:
                first = doc.keys[child]
                here = _mark(key_node)
                problems.append(
                    Problem(
                        doc.file,
                        here.line,
                        here.column,
                        dotted(child),
                        f"duplicate key '{key}' (first given at line {first.line})",
                    )
                )
                continue
            doc.keys[child] = _mark(key_node)
            result[key] = _build(value_node, child, doc, loader, problems, depth + 1, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, i), doc, loader, problems, depth + 1, budget)
            for i, item in enumerate(node.value)
        ]
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(doc.problem(path, f"invalid value: {exc}"))
        return None
