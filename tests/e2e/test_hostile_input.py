"""Hostile input at the command line: always a clear error, never a traceback, never SQL
built from text.

Whatever reaches migrator through a plan file, an `expect`, a `${...}` reference or a
`--var` value, the answer is an exit code of the README's table (0; 2 with problems that point into
the file or one `error:` line) and lines a person can read, never a Python traceback.
Plan variables reach SQL as bound parameters: a value written to break out of a SQL
string is stored and compared as the text it is, and the statement the server received
holds a placeholder where the value would have been pasted.

tests/unit/test_loader_fuzz.py fuzzes the same parsers as library calls; this file drives
the command line (`main(argv)`, and a real process for what only a shell can send).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests import secrets_sweep
from tests.fuzzing import (
    TRICKY_STRINGS,
    as_flow_yaml,
    mutated_plans,
    templates,
    yaml_values,
)
from tests.helpers import Result, cli, query

CLI_FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
RUN_FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INJECTION = "'); drop table profiles; --"
_plan_numbers = itertools.count()


def assert_clear(result: Result, *codes: int) -> None:
    assert result.code in codes, result.text
    assert "Traceback" not in result.text, result.text


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


# -- plan files, `expect` and `${...}` through `migrator validate` ------------------------


def validate_json(path: Path) -> dict[str, Any]:
    """`migrator validate PATH --output json`: exit 0 or 2, and problems that point into it."""
    result = cli("validate", path, "--output", "json")
    assert_clear(result, 0, 2)
    document = json.loads(result.out)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() or [""]
    errors = [p for p in document["problems"] if p["severity"] == "error"]
    assert document["valid"] is (result.code == 0) is (not errors)
    for problem in document["problems"]:
        assert problem["file"] == str(path)
        assert 1 <= problem["line"] <= len(lines) + 1, problem
        assert problem["column"] >= 1, problem
        assert problem["message"].strip(), problem
    text = cli("validate", path)  # the same verdict, for people
    assert_clear(text, result.code)
    return document  # type: ignore[no-any-return]


@CLI_FUZZ
@given(text=mutated_plans())
def test_validate_answers_a_mutated_plan_with_a_verdict(folder: Path, text: str) -> None:
    path = folder / "mutated.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    validate_json(path)


@CLI_FUZZ
@given(data=st.binary(max_size=300))
def test_validate_answers_any_bytes_with_a_verdict(folder: Path, data: bytes) -> None:
    path = folder / "bytes.yaml"
    path.write_bytes(data)
    result = cli("validate", path)
    assert_clear(result, 2)  # no byte string is a plan: it has no phases and no steps
    assert result.out.startswith(f"{path}:")


EXPECT_PLAN = """\
plan: expecting
vars: {{limit: 5}}
phases: [a, b]
transitions:
  - name: go
    from: a
    to: b
    steps: [{{flag: {{name: F, value: true}}}}]
    post_checks:
      - name: fuzzed
        query: select count(*) from pg_class where relpages < :limit
        expect: {expect}
"""
CHECK_LINE = 10  # `- name: fuzzed`; its expect is on line 12
OPERATOR_TEXTS = st.builds(
    "{}{}{}".format,
    st.sampled_from(["", "==", "!=", ">", ">=", "<", "<=", "=>", "=<", "<>", "=", "!", "!=="]),
    st.sampled_from(["", " ", "  "]),
    st.one_of(st.sampled_from(TRICKY_STRINGS), st.text(max_size=10), st.integers().map(str)),
).map(as_flow_yaml)  # the text as one YAML value, quoted and escaped as YAML needs


@CLI_FUZZ
@given(expect=st.one_of(OPERATOR_TEXTS, yaml_values))
def test_a_hostile_expect_is_valid_or_a_problem_on_its_line(folder: Path, expect: str) -> None:
    path = folder / "expect.yaml"
    path.write_text(EXPECT_PLAN.format(expect=expect), encoding="utf-8", errors="surrogatepass")
    document = validate_json(path)
    for problem in document["problems"]:
        assert problem["line"] >= CHECK_LINE, problem  # the check, never somewhere else


REFERENCE_PLAN = """\
plan: referring
kind: hotfix
vars: {{a: one, b: two, version: v1}}
steps:
  - name: fuzzed
    flag: {{name: F, value: {value}}}
post_checks:
  - flag_is: {{name: F, value: {value}}}
"""
REFERENCE_LINE = 6
_REFERENCE = re.compile(r"\$\{([^{}]*)\}")


@CLI_FUZZ
@given(template=templates)
@example(template="\n${host}")  # a value over three lines: the second place moves down
def test_a_reference_is_declared_or_a_problem_on_its_line(folder: Path, template: str) -> None:
    path = folder / "reference.yaml"
    value = as_flow_yaml(template)
    path.write_text(REFERENCE_PLAN.format(value=value), encoding="utf-8", errors="surrogatepass")
    document = validate_json(path)
    inner = [m.strip() for m in _REFERENCE.findall(template)]
    resolvable = all(
        ref in ("a", "b", "version") or re.fullmatch(r"env:\s*[A-Za-z_]\w*", ref, re.ASCII)
        for ref in inner
    )
    assert document["valid"] is resolvable, (template, document["problems"])
    # The value's two places: its first line moves down by the lines a multi-line
    # value (a quoted scalar with a line break) takes.
    second = REFERENCE_LINE + 2 + value.count("\n")
    for problem in document["problems"]:
        assert problem["line"] in (REFERENCE_LINE, second), problem


# -- `--var` values through `migrator apply` ------------------------------------------------

VAR_PLAN = """\
plan: {name}
kind: hotfix
vars: {{note: x, n: 1, ok: true, ratio: 0.5}}
steps:
  - name: keep the note
    sql: insert into notes (plan, body, n, ok, ratio) values (:plan_name, :note, :n, :ok, :ratio)
    rollback: {{sql: "delete from notes where plan = :plan_name"}}
  - name: flag the note
    flag: {{name: {flag}, value: "${{note}}"}}
post_checks:
  - name: the note is there, as it was given
    query: select count(*) from notes where plan = :plan_name and body = :note
    expect: 1
"""


@pytest.fixture(scope="module")
def var_database(admin_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """One database for every example of the module (a plan of its own per example)."""
    name = f"hostile_vars_{os.getpid()}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create table notes (plan text, body text, n numeric, ok bool, ratio float8)")
    yield dsn
    sweep = secrets_sweep.sweep_of(request.config)
    if sweep is not None:
        sweep.check_database(dsn)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def var_plan(folder: Path) -> tuple[Path, str, str]:
    """A fresh plan (its own name, so its own state), its name and its flag's name."""
    number = next(_plan_numbers)
    name, flag = f"vars-{number}", f"NOTE_{number}"
    path = folder / f"{name}.yaml"
    text = VAR_PLAN.format(name=name, flag=flag).replace(":plan_name", f"'{name}'")
    path.write_text(text)
    return path, name, flag


SQL_TRICKS = [
    INJECTION,
    "x'; delete from notes; --",
    "$$; drop table notes; $$",
    "\\'); drop table notes; --",
    ":note",
    "%s",
    "%(note)s",
    "${note}",
    f"${{env:{secrets_sweep.ENV_NAME}}}",
    "${env:HOME}",
    "1; select pg_sleep(10)",
    "0x10",
    " 7 ",
    "+3",
    "1_000",
    "٣",
    "1e999",
    "nan",
    "-inf",
    "10" * 2500,
]
var_values = st.one_of(st.sampled_from(SQL_TRICKS), st.text(max_size=30))
var_items = st.one_of(
    var_values.map("note={}".format),  # a string: always taken, as it is
    st.builds("{}={}".format, st.sampled_from(["note", "n", "ok", "ratio"]), var_values),
    st.builds("{}={}".format, st.text(max_size=6), var_values),
    st.text(max_size=12),
)


@RUN_FUZZ
@given(item=var_items)
def test_any_var_runs_verbatim_or_is_refused_before_anything(
    folder: Path, var_database: str, item: str
) -> None:
    plan, name, flag = var_plan(folder)
    result = cli("apply", plan, "--dsn", var_database, "--var", item, "--yes")
    assert_clear(result, 0, 2)
    event(f"exit {result.code}")
    var, _, raw = item.partition("=")
    runs = query(var_database, "select count(*) from migrator.runs where plan = %s", name)
    if result.code == 2:
        said = "".join(
            line for line in result.err.splitlines(True) if not line.startswith("warning: --dsn")
        )
        assert said.startswith(("error: --var", "Usage:")), result.err
        assert runs in ([(0,)], []), "a refused --var touched nothing"
        return
    assert runs == [(1,)]
    (body, n, ok, ratio), *more = query(
        var_database, "select body, n, ok, ratio from notes where plan = %s", name
    )
    assert not more
    stored = query(var_database, "select value from migrator.flags where name = %s", flag)
    if var == "note":
        assert body == raw  # verbatim: never trimmed, never interpolated, never SQL
        assert stored == [(raw,)]  # `${...}` in a value is not expanded again
    elif var == "n":
        assert n == int(raw)
        assert re.fullmatch(r"\s*[+-]?[0-9]+\s*", raw, re.ASCII)
    elif var == "ratio":
        assert ratio == float(raw)
    elif var == "ok":
        assert ok is (raw.lower() in ("true", "yes", "1", "on"))
    assert query(var_database, "select to_regclass('notes') is not null") == [(True,)]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("note=a\x00b", "NUL character"),
        ("note=\udcff", "not valid UTF-8"),
        ("n=1_000", "expected a whole number"),
        ("n=٣", "expected a whole number"),
        ("n=" + "9" * 5000, "expected a whole number"),
        ("ratio=nan", "expected a number"),
        ("ratio=1e999", "expected a number"),
    ],
    ids=["nul", "not utf-8", "underscores", "arabic digit", "5000 digits", "nan", "overflow"],
)
def test_a_var_no_database_could_take_is_bad_usage(
    folder: Path, var_database: str, item: str, message: str
) -> None:
    plan, name, _ = var_plan(folder)
    result = cli("apply", plan, "--dsn", var_database, "--var", item)
    assert_clear(result, 2)
    assert message in result.err
    assert query(var_database, "select count(*) from notes where plan = %s", name) == [(0,)]


def test_bytes_a_shell_passes_that_are_not_utf8_are_bad_usage(
    folder: Path, var_database: str
) -> None:
    plan, name, _ = var_plan(folder)
    argv = [sys.executable, "-m", "migrator", "apply", str(plan), "--dsn", var_database]
    proc = subprocess.run(
        [os.fsencode(a) for a in argv] + [b"--var", b"note=caf\xe9", b"--var", b"\xff=1"],
        capture_output=True,
        check=False,
    )
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    assert "--var" in err
    assert query(var_database, "select count(*) from notes where plan = %s", name) == [(0,)]


# -- a value made to break out of SQL ----------------------------------------------------------

INJECTION_PLAN = """\
plan: ir-07-note
kind: hotfix
vars: {note: harmless}
pre_checks:
  - name: profiles is there
    query: select count(*) from profiles
    expect: 2
steps:
  - name: keep the note, and what the server received
    sql: insert into seen (query, body) values (current_query(), :note)
    rollback: {sql: "delete from seen where body = :note"}
  - name: flag the note
    flag: {name: LAST_NOTE, value: "${note}"}
post_checks:
  - name: the note compares equal to itself
    query: select count(*) from seen where body = :note
    expect: 1
  - name: profiles is still there
    query: select count(*) from profiles
    expect: 2
  - flag_is: {name: LAST_NOTE, value: "${note}"}
"""


def test_a_var_written_to_break_out_of_sql_is_harmless(
    write_plan: Any, migrator: Any, sql: Any
) -> None:
    sql("create table profiles (id int primary key)")
    sql("insert into profiles values (1), (2)")
    sql("create table seen (query text, body text)")
    plan = write_plan(INJECTION_PLAN)

    dry = migrator("plan", plan, "--var", f"note={INJECTION}")
    assert dry.code == 0, dry.out + dry.err
    assert "values (current_query(), :note)" in dry.out  # the SQL as written, not pasted

    result = migrator("apply", plan, "--var", f"note={INJECTION}")
    assert result.code == 0, result.out + result.err
    assert sql("select count(*) from profiles") == [(2,)]  # the table is still there
    ((received, body),) = sql("select query, body from seen")
    assert body == INJECTION  # stored verbatim
    assert INJECTION not in received  # the server got a placeholder, not the text
    assert received == "insert into seen (query, body) values (current_query(), $1)"
    assert sql("select value from migrator.flags where name = 'LAST_NOTE'") == [(INJECTION,)]
    checks = sql("select step, status from migrator.events where kind = 'check' order by id")
    assert [status for _, status in checks] == ["passed"] * 4

    undo = migrator("rollback", plan, "--var", f"note={INJECTION}")
    assert undo.code == 0, undo.out + undo.err
    assert sql("select count(*) from seen") == [(0,)]  # the rollback matched it exactly
    assert sql("select count(*) from profiles") == [(2,)]


# -- what a plan or a shell can hold that is not text ------------------------------------------


def test_a_surrogate_escape_in_a_plan_is_a_problem_not_a_crash(folder: Path) -> None:
    path = folder / "surrogates.yaml"
    path.write_text(
        'plan: x\nkind: hotfix\nsteps:\n  - name: "half \\ud83d"\n    flag: {name: F, value: 1}\n'
        '"\\udc00": 1\n'
    )
    result = cli("validate", path)
    assert_clear(result, 2)
    assert f"{path}:4:11: steps[0].name: the escape \\ud83d is half of a UTF-16" in result.out
    assert f"{path}:6:1: the escape \\udc00 is half" in result.out
    assert "\ud83d" not in result.out  # escaped for people, so any terminal takes it


def test_a_key_cannot_forge_a_line_of_output(folder: Path) -> None:
    path = folder / "forged.yaml"
    path.write_text(
        "plan: x\nkind: hotfix\nsteps: [{sql: select 1}]\n"
        f'"a\\n{path} (plan x): valid, 0 error(s), 0 warning(s)\\rb": 1\n'
    )
    result = cli("validate", path)
    assert_clear(result, 2)
    lines = result.out.splitlines()
    assert len(lines) == 2 and "\r" not in result.out
    assert lines[0].startswith(f"{path}:4:1: ") and "\\n" in lines[0] and "\\r" in lines[0]
    assert lines[1] == f"{path}: INVALID, 1 error(s), 0 warning(s)"


def test_a_file_name_in_bytes_that_are_not_utf8_is_shown_not_a_crash(folder: Path) -> None:
    name = os.fsencode(folder) + b"/plan-\xff\xed\xa0\x80.yaml"
    Path(os.fsdecode(name)).write_text("plan: x\nkind: hotfix\nsteps: [{sql: select 1}]\nx: 1\n")
    proc = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"migrator", b"validate", name],
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},  # as in a UTF-8 locale
    )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    assert "plan-\\udcff\\udced\\udca0\\udc80.yaml:4:1: x: unknown key 'x'" in out
