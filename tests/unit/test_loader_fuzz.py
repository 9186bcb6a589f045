"""Fuzzing the plan loader, expectations and interpolation.

Whatever a person types into a plan, migrator answers with a plan or with problems that
point into the file (FILE:LINE:COL: message), never with a traceback. The inputs start
from valid plans written like the plan format's examples and are mutated the ways real edits go
wrong: stray keys, values of the wrong type, a file cut short, indentation off by a few
spaces, pasted control characters, a line copied twice.

Each bug the fuzzing found is pinned by a regression test at the end of this file.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.errors import PlanError
from migrator.plan import Plan, load_plan_text
from migrator.plan.expect import (
    OPERATORS,
    Comparison,
    EqualsQuery,
    ExpectationError,
    parse_expectation,
)
from migrator.plan.interpolate import InterpolationError, interpolate
from migrator.plugin.manager import get_plugin_manager
from migrator.plugin.registry import Registry
from tests.fuzzing import (
    HOTFIX,
    PHASED,
    SEEDS,
    delete_line,
    duplicate_line,
    insert_characters,
    insert_key,
    keys,
    mutated_plans,
    plain_text,
    reindent,
    replace_value,
    safe_chars,
    scalars,
    strings,
    templates,
    truncate,
    values,
    variable_maps,
)

FILE = "plans/fuzzed.yaml"

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
QUICK = settings(max_examples=300, deadline=None)


@functools.cache
def builtin_registry() -> Registry:
    """Built once for the module: hypothesis runs each test many times."""
    return get_plugin_manager().build_registry()


# YAML's own line breaks: where a Problem's line numbers come from.
_YAML_LINES = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def assert_plan_or_problems(text: str) -> Plan | None:
    """`load_plan_text` returns a Plan or raises PlanError whose problems point into the text."""
    try:
        plan = load_plan_text(text, FILE, builtin_registry())
    except PlanError as exc:
        assert exc.problems, "a PlanError must carry at least one problem"
        lines = _YAML_LINES.split(text)
        for problem in exc.problems:
            assert problem.file == FILE, problem
            assert problem.line >= 1, problem
            assert problem.column >= 1, problem
            assert problem.message.strip(), problem
            assert problem.severity == "error", problem
            assert problem.line <= len(lines), (problem, len(lines))
            assert problem.column <= len(lines[problem.line - 1]) + 1, problem
        return None
    assert isinstance(plan, Plan)
    assert plan.file == FILE
    assert plan.phases and plan.transitions
    return plan


# -- the plan loader ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS, ids=["phased", "hotfix"])
def test_the_seed_plans_are_valid(seed: str) -> None:
    plan = assert_plan_or_problems(seed)
    assert plan is not None
    assert plan.name in ("scoring-results-unification", "ir-07-profiles-rls")


@FUZZ
@given(mutated_plans())
def test_a_mutated_plan_loads_or_reports_problems(text: str) -> None:
    assert_plan_or_problems(text)


@FUZZ
@given(mutated_plans([replace_value, insert_key]))
def test_values_of_the_wrong_type_are_problems_not_crashes(text: str) -> None:
    assert_plan_or_problems(text)


@FUZZ
@given(mutated_plans([truncate, reindent, duplicate_line, delete_line, insert_characters]))
def test_broken_structure_is_a_problem_not_a_crash(text: str) -> None:
    assert_plan_or_problems(text)


@FUZZ
@given(st.dictionaries(keys, values, max_size=6))
def test_any_yaml_mapping_loads_or_reports_problems(document: dict[str, Any]) -> None:
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    assert_plan_or_problems(text)


@FUZZ
@given(st.text(alphabet=safe_chars, max_size=200))
def test_any_text_loads_or_reports_problems(text: str) -> None:
    assert_plan_or_problems(text)


@FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_a_duplicated_key_line_is_reported_at_the_copy(seed: str, data: st.DataObject) -> None:
    lines = seed.split("\n")
    top_level = [i for i, line in enumerate(lines) if re.match(r"^[a-z_]+:", line)]
    i = data.draw(st.sampled_from(top_level))
    copy = [*lines[: i + 1], lines[i], *lines[i + 1 :]]
    key = lines[i].split(":", 1)[0]
    with pytest.raises(PlanError) as caught:
        load_plan_text("\n".join(copy), FILE, builtin_registry())
    assert any(
        p.line == i + 2 and p.column == 1 and p.message.startswith(f"duplicate key '{key}'")
        for p in caught.value.problems
    ), caught.value.problems


# -- expectations -------------------------------------------------------------------------

op_strings = st.builds(
    "{}{}{}{}".format,
    st.sampled_from(["", " ", "\t", "\n"]),
    st.sampled_from([*OPERATORS, "=", "!", "=>", "<>", "===", "!!", ">>", "=<"]),
    st.sampled_from(["", " ", "  "]),
    st.one_of(
        plain_text,
        st.integers().map(str),
        st.floats().map(str),
        st.sampled_from(
            [".nan", ".inf", "-.inf", "0x1F", "1e3", "~", "null", "true", "[1", "{a: 1}"]
        ),
        st.sampled_from(["'q'", "2025-01-01", "a: b", "- x", "!!binary aGk=", "&a x", "*a"]),
    ),
)
expect_inputs = st.one_of(
    values,
    op_strings,
    st.dictionaries(st.sampled_from(["equals_query", "equals", "sql"]), values, max_size=2),
    st.builds(lambda sql: {"equals_query": sql}, strings),
)
actuals = st.one_of(
    scalars,
    st.decimals(allow_nan=False),
    st.just(Decimal("NaN")),
    st.lists(scalars, max_size=2),
)


@QUICK
@given(expect_inputs, actuals)
def test_an_expectation_parses_or_says_why(raw: Any, actual: Any) -> None:
    try:
        expectation = parse_expectation(raw)
    except ExpectationError as exc:
        assert str(exc).strip()
        return
    assert isinstance(expectation, Comparison | EqualsQuery)
    assert str(expectation)
    if isinstance(expectation, EqualsQuery):
        assert isinstance(raw, dict)
        assert expectation.sql.strip()
        return
    assert expectation.op in OPERATORS
    if expectation.op in (">", ">=", "<", "<="):
        assert isinstance(expectation.value, int | float)
        assert not isinstance(expectation.value, bool)
    assert expectation.test(actual) in (True, False)


def comparison(raw: Any) -> Comparison:
    parsed = parse_expectation(raw)
    assert isinstance(parsed, Comparison)
    return parsed


@QUICK
@given(st.integers(), st.integers(1, 10**6))
def test_number_comparisons_mean_what_they_say(n: int, more: int) -> None:
    assert comparison(n).test(n)
    assert comparison(f"== {n}").test(Decimal(n))
    assert comparison(f"> {n}").test(n + more)
    assert not comparison(f"> {n}").test(n)
    assert comparison(f">= {n}").test(n)
    assert comparison(f"< {n}").test(n - more)
    assert not comparison(f"<= {n}").test(n + more)
    assert comparison(f"!= {n}").test(n + more)


# -- interpolation ------------------------------------------------------------------------

REFERENCE_TEXT = re.compile(r"\$\{([^{}]*)\}")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def expected_interpolation(
    template: str, variables: dict[str, str], environ: dict[str, str]
) -> str | None:
    """Every reference replaced in one pass, or None when one of them is an error."""

    class Unresolved(Exception):
        pass

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        env = inner.startswith("env:")
        name = inner[4:].strip() if env else inner
        source = environ if env else variables
        if not IDENTIFIER.match(name) or name not in source:
            raise Unresolved
        return str(source[name])

    try:
        return REFERENCE_TEXT.sub(replace, template)
    except Unresolved:
        return None


@QUICK
@given(
    st.text(max_size=40) | templates,
    st.dictionaries(st.text(max_size=5), st.text(max_size=8) | st.integers(), max_size=4),
    st.dictionaries(st.text(max_size=5), st.text(max_size=8), max_size=3),
)
def test_interpolation_gives_text_or_says_why(
    template: str, variables: dict[str, Any], environ: dict[str, str]
) -> None:
    try:
        out = interpolate(template, variables, environ)
    except InterpolationError as exc:
        assert str(exc).strip()
        return
    assert isinstance(out, str)
    if "${" not in template:
        assert out == template


@QUICK
@given(templates, variable_maps, variable_maps)
def test_interpolation_resolves_every_reference_it_can(
    template: str, variables: dict[str, str], environ: dict[str, str]
) -> None:
    # Values hold no `$`, `{` or `}` here; values that do are the regression test below.
    expected = expected_interpolation(template, variables, environ)
    try:
        out = interpolate(template, variables, environ)
    except InterpolationError:
        assert expected is None, "an InterpolationError for a template that resolves"
        return
    assert expected is not None, "a result for a template with an unresolvable reference"
    assert out == expected
    for name in variables:
        assert f"${{{name}}}" not in out
    for name in environ:
        assert f"${{env:{name}}}" not in out


# -- regression tests for the bugs the fuzzing found ---------------------------------------


def _is_plan_error(text: str) -> bool:
    try:
        load_plan_text(text, FILE, builtin_registry())
    except PlanError as exc:
        return all(p.file == FILE and p.line >= 1 and p.column >= 1 for p in exc.problems)
    return False


@pytest.mark.parametrize("pasted", ["\x07", "\x00", "\x1b[31m", "\ud800", "\x7f"])
def test_control_characters_are_a_problem(pasted: str) -> None:
    assert _is_plan_error(HOTFIX.replace("keep RLS on", f"keep RLS on{pasted}"))


def test_a_huge_integer_duration_is_a_problem() -> None:
    assert _is_plan_error(PHASED.replace("lock_timeout: 5s", "lock_timeout: " + "9" * 400))


def test_a_nan_duration_is_a_problem() -> None:
    assert _is_plan_error(PHASED.replace("lock_timeout: 5s", "lock_timeout: .nan"))


@pytest.mark.parametrize(
    "text",
    [
        "plan: x\nvars: " + "[" * 1500 + "]" * 1500 + "\n",
        "plan: x\nvars: " + "{a: " * 1500 + "}" * 1500 + "\n",
        "plan: x\nvars:\n" + "".join(" " * i + "- a:\n" for i in range(0, 3000, 2)),
    ],
    ids=["flow sequences", "flow mappings", "block mappings"],
)
def test_deeply_nested_yaml_is_a_problem(text: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, FILE, builtin_registry())
    (problem,) = caught.value.problems
    assert problem.file == FILE
    assert problem.line >= 1 and problem.column >= 1
    assert "nested too deeply" in problem.message


def test_a_deeply_nested_expected_value_is_compared_as_text() -> None:
    text = "[" * 1500
    assert parse_expectation("== " + text) == Comparison("==", text)


@pytest.mark.parametrize("actual", [Decimal("Infinity"), Decimal("-Infinity")])
def test_comparing_with_a_numeric_infinity_is_a_verdict(actual: Decimal) -> None:
    assert comparison("> 0").test(actual) is (actual > 0)


def test_interpolation_is_one_pass_whatever_the_order() -> None:
    variables = {"a": "${b}", "b": "X"}
    assert interpolate("${b}${a}", variables, {}) == "X${b}"
    assert interpolate("${a}${b}", variables, {}) == "${b}X"
    leaked = interpolate("q=${q} t=${env:TOKEN}", {"q": "${env:TOKEN}"}, {"TOKEN": "s3cret"})
    assert leaked == "q=${env:TOKEN} t=s3cret"


def test_an_alias_bomb_is_a_problem_and_cheap() -> None:
    """10^8 values through aliases: refused once the document passes the loader's cap of
    values, not after building them all. Measured in memory, not in seconds (tracemalloc
    counts allocations, whatever the machine's speed): about 50 MB up to the cap, where
    the 10^8 values would need 800 MB for their list slots alone."""
    import tracemalloc

    lines = ["plan: x", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 8)]
    registry = builtin_registry()
    tracemalloc.start()
    try:
        with pytest.raises(PlanError) as caught:
            load_plan_text("\n".join(lines) + "\n", FILE, registry)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024 * 1024
    messages = [p.message for p in caught.value.problems]
    assert any("expands to more than" in m for m in messages)


def test_the_python_name_of_from_is_not_a_plan_key() -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(
            "plan: x\nphases: [a, b]\ntransitions: [{name: t, from_: a, to: b}]\n",
            FILE,
            builtin_registry(),
        )
    assert any(p.message.startswith("unknown key 'from_'") for p in caught.value.problems)
