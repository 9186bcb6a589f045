"""The fast YAML path (libyaml's parser) reads every plan exactly as PyYAML alone does.

Plans are parsed by libyaml (C) when PyYAML has it, about five times faster on a big plan
(benchmarks/scale.py). The two parsers differ in a few corners of YAML; text that reaches
one of them goes to PyYAML alone, and any error is reported by PyYAML. These tests draw
plans and YAML fragments and demand the same data, the same positions for every key and
value, and the same problems, whichever way the text was read.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.errors import PlanError
from migrator.plan.source import load_yaml
from tests.fuzzing import keys, mutated_plans, values

pytest.importorskip("yaml._yaml", reason="PyYAML without libyaml: one parser only")

SAME = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def read(text: str, libyaml: bool) -> tuple[Any, ...]:
    try:
        doc = load_yaml(text, "plan.yaml", libyaml=libyaml)
    except PlanError as exc:
        return ("problems", [str(p) for p in exc.problems])
    return ("document", doc.data, doc.values, doc.keys)


def assert_read_alike(text: str) -> None:
    assert read(text, libyaml=True) == read(text, libyaml=False)


@SAME
@given(mutated_plans())
def test_a_mutated_plan_reads_alike(text: str) -> None:
    assert_read_alike(text)


@SAME
@given(st.dictionaries(keys, values, max_size=6), st.booleans())
def test_any_yaml_document_reads_alike(document: dict[str, Any], flow: bool) -> None:
    assert_read_alike(yaml.safe_dump(document, allow_unicode=True, default_flow_style=flow))


# The characters YAML's grammar turns on, and a few others.
SYNTAX = "{}[],:?-!&*|>#%@`'\"\\ \n\t\r.0ab~=+"


@SAME
@given(st.text(alphabet=SYNTAX, max_size=30))
def test_a_fragment_of_yaml_syntax_reads_alike(text: str) -> None:
    assert_read_alike(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: !\n",  # a non-specific tag on an empty value: null, as PyYAML says
        "!:!",  # a tag handle libyaml reads as the tag '!:!', PyYAML as a handle without its end
        "a: x != y\n",  # SQL's != is no tag
        "a: |#\n",  # libyaml takes a comment right after the indicator
        "a: [x?y]\n",  # PyYAML ends a plain scalar at `?` inside a flow collection
        "? a\n",  # the position of the empty value of an explicit key
        "---\n",
        "a: b\tc\n",  # libyaml takes a tab inside a plain scalar
        "a: \ufeffb\n",
        "a: 'x\u2028y'\n",
        "a: 1\nb: [1, 2\n",  # an error, reported in PyYAML's words
    ],
)
def test_the_corners_where_the_parsers_differ_read_alike(text: str) -> None:
    assert_read_alike(text)
