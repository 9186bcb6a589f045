"""Where a lint finding points inside a string (`SourceDocument.position_in`): at the very
character of the file that the string's character came from, or, where the file does not
hold the string character for character, at the value itself (docs/lint.md).

The oracle: the character at the position given for offset N is the string's character N.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.plan.source import Position, SourceDocument, load_yaml


def _doc(sql_yaml: str) -> SourceDocument:
    return load_yaml(f"steps:\n  - name: s\n    sql: {sql_yaml}\n    risk: low\n", "p.yaml")


PATH = ("steps", 0, "sql")


def _char_at(doc: SourceDocument, pos: Position) -> str:
    return doc.text.splitlines()[pos.line - 1][pos.column - 1 : pos.column]


def _assert_exact(doc: SourceDocument) -> None:
    value = doc.data["steps"][0]["sql"]
    for offset, char in enumerate(value):
        if char != "\n":
            pos = doc.position_in(PATH, offset)
            assert _char_at(doc, pos) == char, (offset, char, pos)


@pytest.mark.parametrize(
    "sql_yaml",
    [
        "update events set a = :ownr",
        "&upd update events set a = :ownr",
        "!!str update events set a = :ownr",
        "&upd !!str update events set a = :ownr  # a comment",
        "'update events set a = :ownr'",
        '"update events set a = :ownr"',
        "!!str 'update events set a = :ownr'",
        "|\n      select 1;\n      update events set a = :ownr\n",
        "|-\n      select 1;\n\n      update events set a = :ownr\n",
        "&anchor |\n      select 1;\n      update events set a = :ownr\n",
        "!!str\n      |\n      select 1;\n      update events set a = :ownr\n",
        "!!str # the tag, then a comment\n      |\n      update events set a = :ownr\n",
        "|2\n        select 1;\n      update events set a = :ownr\n",
        "|2-\n\n          select 1;\n      update events\n         set a = :ownr\n",
        "|1\n       select 1;\n       update events set a = :ownr\n",
    ],
)
def test_a_string_the_file_holds_as_written_is_mapped_exactly(sql_yaml: str) -> None:
    doc = _doc(sql_yaml)
    _assert_exact(doc)
    value = doc.data["steps"][0]["sql"]
    parameter = doc.position_in(PATH, value.index(":ownr"))
    assert _char_at(doc, parameter) == ":"
    assert doc.text.splitlines()[parameter.line - 1][parameter.column - 1 :].startswith(":ownr")


@pytest.mark.parametrize(
    "sql_yaml",
    [
        '"update events set a = 1\n      where b = :ownr"',  # the line break is read as a space
        "'update events set a = 1\n      where b = :ownr'",
        "update events set a = 1\n      where b = :ownr",  # a plain scalar over two lines
        "\"select '\\t'; update events set a = :ownr\"",  # one character, two in the file
        '"select \'\\x41\', \\"q\\"; update events set a = :ownr"',
        "'select ''x''; update events set a = :ownr'",
        ">\n      update events set a = 1\n      where b = :ownr\n",  # folded
    ],
)
def test_a_string_the_file_holds_otherwise_is_placed_at_the_value(sql_yaml: str) -> None:
    doc = _doc(sql_yaml)
    value = doc.data["steps"][0]["sql"]
    assert doc.position_in(PATH, value.index(":ownr")) == doc.position(PATH) == Position(3, 10)


def test_the_lines_are_split_once_per_document() -> None:
    doc = _doc("|\n      select 1;\n      update events set a = :ownr\n")
    doc.position_in(PATH, 3)
    doc.text = ""  # were the text split again, no line would be found
    assert doc.position_in(PATH, 12) == Position(5, 9)


_TEXT = st.text(st.sampled_from("ab :'\"\\\t#&!|-\n"), max_size=30)
_STYLES = st.sampled_from([None, "'", '"', "|", ">"])
_PROPERTIES = st.sampled_from(["", "&a ", "!!str ", "&a !!str\n   "])


@given(value=_TEXT, style=_STYLES, properties=_PROPERTIES, indent=st.integers(0, 3))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_position_is_the_character_itself_or_the_value(
    value: str, style: str | None, properties: str, indent: int
) -> None:
    dumped = yaml.safe_dump({"sql": value}, default_style=style, width=20)
    text = "steps:\n" + "".join(
        ("  " * indent + "- " if n == 0 else "  " * indent + "  ") + line + "\n"
        for n, line in enumerate(dumped.splitlines())
    )
    text = text.replace("sql: ", "sql: " + properties, 1) if properties else text
    try:
        doc = load_yaml(text, "p.yaml")
    except Exception:  # what safe_dump wrote is not always valid under the added properties
        return
    if not isinstance(doc.data, dict) or not isinstance(doc.data["steps"][0], dict):
        return
    got = doc.data["steps"][0].get("sql")
    if not isinstance(got, str):
        return
    value_at = doc.position(PATH)
    for offset, char in enumerate(got):
        pos = doc.position_in(PATH, offset)
        if pos != value_at and char != "\n":
            assert _char_at(doc, pos) == char, (text, offset, pos)
