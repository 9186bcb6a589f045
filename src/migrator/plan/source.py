"""YAML loading that remembers where every value came from.

PyYAML forgets positions once it builds Python objects, silently keeps the last
of two duplicate keys and turns dates into `datetime`. This loader composes the
node tree itself, rejects duplicate keys, keeps dates as strings, and records for
every path in the document the line and column of its key and of its value.

Text is scanned and parsed by libyaml (C) when PyYAML has it, by PyYAML's own
Python parser otherwise, and always where the two would read it differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from migrator.errors import PlanError, Problem
from migrator.plan.textpos import content_start, in_literal, in_one_line

PathKey = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver (dates stay strings), and with YAML 1.2
    booleans: only true and false are, so phases named `on`/`off` or a flag value `no`
    stay strings as written."""


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", _BOOL)
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"))
    )

# libyaml's parser; None when PyYAML was built without it (the pure Python loader does it all)
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:

    class _FastLoader(Composer, _CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        """`_Loader`, with libyaml's scanner and parser (C, about 5x faster on big plans).

        Only scanning and parsing are in C: the tree is still composed in Python, so
        hostile nesting ends in a RecursionError (a problem) rather than overflowing the
        C stack as libyaml's own composer does.
        """

        yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

        def compose_scalar_node(self, anchor: Any) -> Any:
            event = self.peek_event()
            if event.tag == "!":  # a non-specific tag: resolved as plain text, as PyYAML does
                event.implicit = (True, False)
            return Composer.compose_scalar_node(self, anchor)


# What libyaml and PyYAML read differently, found by fuzzing the two against each other
# (tests/unit/test_yaml_parsers.py): a tab inside a plain scalar; a byte order mark past
# the start; Unicode line breaks; `?` (explicit keys, and inside flow collections, where
# PyYAML ends a plain scalar at it); `#` right after `|` or `>`; a bare `---` or `...`
# line; a tag (`!` where a node starts, but not SQL's `!=`), whose handle libyaml and
# PyYAML split differently (`!:!`). Text holding any of them is read by PyYAML alone.
_PYTHON_ONLY = re.compile(
    r"[\t\ufeff\x85\u2028\u2029?]|[|>][-+0-9]*#|^(?:---|\.\.\.)[ \r]*$"
    r"|(?<![^\s\[{,:\-])!(?![=\s])",
    re.MULTILINE,
)


def _fast_root(text: str) -> tuple[Any, Any] | None:
    """The root node of `text` and its loader, parsed by libyaml; None to use PyYAML's own.

    None as well when PyYAML would refuse the text: every error is then reported by
    PyYAML, in its words and at its positions, whichever parser is installed.
    """
    if _CParser is None or _PYTHON_ONLY.search(text):
        return None
    try:
        yaml.reader.Reader(text)  # PyYAML's check for control characters
    except yaml.YAMLError:
        return None
    loader = _FastLoader(text)
    try:
        return loader.get_single_node(), loader
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()


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
    styles: dict[PathKey, str] = field(default_factory=dict)
    """The style of each scalar written other than plain on one line: `|` and `>` blocks,
    quoted (`'`, `"`), and `~` for a plain scalar over several lines."""
    text: str = ""

    @cached_property
    def lines(self) -> list[str]:
        """The document's text split into lines, once (every lint finding reads them)."""
        return self.text.splitlines()

    def position_in(self, path: PathKey, offset: int) -> Position:
        """The position of character `offset` of the string at `path` (a lint finding in
        a statement of a `sql: |` block).

        Exact where the file holds the string character for character: a literal block
        (`|`, with or without an indentation indicator), a plain scalar on one line, a
        quoted string on one line with no escape (`\\t`, `''`...) in it; anchors and tags
        before the value are skipped. Elsewhere (a folded block, a string over several
        lines, an escape) the position of the value itself.
        """
        start = self.position(path)
        value = self._value_at(path)
        if path not in self.values or not isinstance(value, str) or not 0 <= offset <= len(value):
            return start
        content = content_start(self.lines, start.line - 1, start.column - 1)
        if content is None:
            return start
        line, column = content
        style = self.styles.get(path, "")
        if style == "|":
            exact = in_literal(self.lines, line, column, value, offset)
        elif style in ("", "'", '"'):
            exact = in_one_line(self.lines[line], column, style, value, offset)
        else:
            exact = None
        if exact is None:
            return start
        row, col = exact
        return Position(line + row + 1, col + 1)

    def _value_at(self, path: PathKey) -> Any:
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

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


def load_yaml(text: str, file: str, *, libyaml: bool = True) -> SourceDocument:
    """Parse one YAML document; raise PlanError pointing at syntax errors and duplicate keys.

    `libyaml=False` reads with PyYAML alone (the fast path's reference, in tests).
    """
    fast = _fast_root(text) if libyaml else None
    loader: Any = None
    try:
        if fast is not None:
            root, loader = fast
        else:
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
    doc = SourceDocument(file=file, data=None, text=text)
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
    loader: Any,
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
                problems.append(doc.problem(path, f"invalid key: {_reason(exc)}"))
                continue
            if not isinstance(key, str | int | float | bool):
                problems.append(doc.problem(path, "mapping keys must be plain scalars"))
                continue
            if isinstance(key, str) and (escape := _lone_surrogate(key)):
                here = _mark(key_node)
                message = _SURROGATE.format(escape)
                problems.append(Problem(doc.file, here.line, here.column, dotted(path), message))
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
    if isinstance(node, yaml.ScalarNode) and (
        node.style or node.end_mark.line > node.start_mark.line
    ):
        doc.styles[path] = node.style or "~"
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(doc.problem(path, f"invalid value: {_reason(exc)}"))
        return None
    if isinstance(value, str) and (escape := _lone_surrogate(value)):
        problems.append(doc.problem(path, _SURROGATE.format(escape)))
        return None
    return value


_SURROGATE = (
    "the escape {} is half of a UTF-16 surrogate pair, not a character: "
    "write the character itself, or \\U and its 8 hex digits"
)


def _lone_surrogate(text: str) -> str | None:
    """The first surrogate in `text` (from an escape like "\\ud83d"), as an escape; else None.

    Such a string is not text: no file, terminal or database could take it.
    """
    if text.isascii():
        return None
    for ch in text:
        if "\ud800" <= ch <= "\udfff":
            return f"\\u{ord(ch):04x}"
    return None


def _reason(exc: yaml.YAMLError) -> str:
    """What went wrong, without the excerpt of the file (the problem says where)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        return exc.problem
    return str(exc)
