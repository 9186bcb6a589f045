"""squawk, the optional extra: found or not, its findings at the plan's FILE:LINE:COL,
its context (in a transaction or not, the target's version), its failures as one warning.

These run the real squawk (`pip install -e '.[test,lint]'`). The failures are programs
standing in for squawk (a script that fails, answers garbage or never answers), and
"not installed" is a setting and a PATH that point nowhere: nothing is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from migrator.lint.findings import SqlText
from migrator.lint.squawk import EXCLUDED, _Group, find_program, offset_of, positional
from tests.lint.squawking import (
    PLAN,
    squawk_as_installed,  # noqa: F401  (autouse)
)
from tests.lint.squawking import script as _script

SQUAWK = find_program("")[0]


def _problems(migrator: Any, plan: Path, *args: str) -> list[dict[str, Any]]:
    result = migrator("validate", "--output", "json", *args, plan)
    assert result.code == 0, result.out + result.err
    found: list[dict[str, Any]] = json.loads(result.out)["problems"]
    return found


def _at(found: list[dict[str, Any]], rule: str) -> set[tuple[int, int]]:
    return {(p["line"], p["column"]) for p in found if p.get("rule") == rule}


def test_the_program_is_installed_for_these_tests() -> None:
    # CI installs '.[test,lint]': a missing squawk is a broken set-up, not a skip.
    assert SQUAWK is not None


def test_findings_point_into_the_plan_file(migrator: Any, write_plan: Any) -> None:
    found = _problems(migrator, write_plan(PLAN))
    # after a non-ASCII literal and a :name parameter; after a tab; in an undo step
    assert _at(found, "require-concurrent-index-creation") == {(11, 45), (12, 12), (16, 29)}
    assert _at(found, "prefer-identity") == {(14, 47)}
    message = next(p["message"] for p in found if p.get("rule") == "prefer-identity")
    assert message.startswith("squawk: Serial types")
    assert "; safe way: Use an `IDENTITY` column instead." in message
    # the texts run in a transaction: squawk is told so; the autocommit one is not
    assert _at(found, "ban-concurrent-index-creation-in-transaction") == set()
    assert not {p.get("rule") for p in found} & set(EXCLUDED)


def test_a_transactional_concurrent_build_is_squawks_finding(
    migrator: Any, write_plan: Any
) -> None:
    plan = PLAN.replace("        autocommit: true\n", "")
    found = _problems(migrator, write_plan(plan))
    # squawk's at `concurrently` (20:37); migrator's own rule of the id, where it has one,
    # finds the same statement and stands for both
    assert {line for line, _ in _at(found, "ban-concurrent-index-creation-in-transaction")} == {20}


def _recording(tmp_path: Path, calls: Path) -> Path:
    """A program standing in front of the real squawk: it notes its arguments and the
    SQL it is given on stdin, then hands both to squawk."""
    assert SQUAWK is not None
    return _script(
        tmp_path,
        "import json, subprocess, sys\n"
        "given = sys.stdin.read()\n"
        f"open({str(calls)!r}, 'a').write(json.dumps([sys.argv[1:], given]) + '\\n')\n"
        f"done = subprocess.run([{SQUAWK!r}, *sys.argv[1:]], input=given, text=True)\n"
        "sys.exit(done.returncode)",
    )


def test_the_sql_an_action_generates_is_given_to_squawk(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = PLAN.replace(
        "      - name: concurrently\n",
        "      - name: rls on\n"
        "        rls: {table: widgets, force: true}\n"
        "      - name: concurrently\n",
    )
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(_recording(tmp_path, calls)))
    _problems(migrator, write_plan(plan))
    given = {}
    for line in calls.read_text().splitlines():
        argv, text = json.loads(line)
        given["--assume-in-transaction" in argv] = text
    policy = (
        'CREATE POLICY "mine" ON "public"."widgets" AS PERMISSIVE FOR ALL TO PUBLIC '
        "USING (owner = current_user)\n;\n"
    )
    rls = (
        "ALTER TABLE widgets ENABLE ROW LEVEL SECURITY; "
        "ALTER TABLE widgets FORCE ROW LEVEL SECURITY;\n;\n"
    )
    assert policy in given[True]
    assert rls in given[True]
    # each text from the start of a line, its parameters positional, in plan order
    assert given[True].startswith(
        "select 'ééé' where $1     = 'x';  create index i on widgets (owner);\n"
    )
    assert given[False] == "select 1; create index concurrently c on widgets (owner)\n;\n"


def test_no_squawk_and_the_setting_off_leave_it_out(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = write_plan(PLAN)
    assert _at(_problems(migrator, plan, "--no-squawk"), "prefer-identity") == set()
    monkeypatch.setenv("MIGRATOR_SQUAWK", "off")
    assert _at(_problems(migrator, plan), "prefer-identity") == set()


def test_a_step_ignores_a_squawk_rule(migrator: Any, write_plan: Any) -> None:
    plan = PLAN.replace(
        "        sql: alter table widgets add column n serial\n",
        "        sql: alter table widgets add column n serial\n"
        "        ignore: {prefer-identity: the sequence is dropped in the next release}\n",
    )
    found = _problems(migrator, write_plan(plan))
    assert _at(found, "prefer-identity") == set()
    assert _at(found, "prefer-bigint-over-int") == {(14, 47)}
    # without squawk the ignore names a rule migrator knows: no warning about it
    quiet = _problems(migrator, write_plan(plan), "--no-squawk")
    assert [p for p in quiet if "ignore names no lint rule" in p["message"]] == []


def test_a_missing_program_is_one_warning(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(tmp_path / "no-such-squawk"))
    found = _problems(migrator, write_plan(PLAN))
    said = [p for p in found if "squawk" in p["message"]]
    assert [(p["line"], p["column"], p["severity"]) for p in said] == [(1, 1, "warning")]
    assert "no such program; squawk's rules were not run" in said[0]["message"]


def test_not_installed_anywhere_is_silent(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    assert find_program("", path=str(empty), beside=empty) == (None, None)
    assert find_program("off", path=os.environ.get("PATH")) == (None, None)
    # installed beside this Python, not on PATH (a virtualenv not activated)
    assert SQUAWK is not None
    assert find_program("", path=str(empty), beside=Path(SQUAWK).parent) == (SQUAWK, None)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("import sys; print('boom: config broken', file=sys.stderr); sys.exit(3)", "exit 3"),
        ("print('this is not json')", "squawk failed (exit 0)"),
        ("print('[{\"file\": 1}]')", "squawk failed"),
        ("import time\nwhile True: time.sleep(1)", "longer than 0.5 s"),
    ],
    ids=["fails", "garbage", "wrong-json", "hangs"],
)
def test_a_squawk_that_fails_is_one_warning_and_lint_goes_on(
    migrator: Any,
    write_plan: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    body: str,
    said: str,
) -> None:
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(_script(tmp_path, body)))
    monkeypatch.setenv("MIGRATOR_SQUAWK_TIMEOUT", "0.5")
    result = migrator("validate", write_plan(PLAN))
    assert result.code == 0
    assert "Traceback" not in result.out + result.err
    lines = [line for line in result.out.splitlines() if "warning: squawk" in line]
    assert len(lines) == 1, result.out
    assert said in lines[0]
    assert "plan.yaml:1:1: warning:" in lines[0]


def test_the_target_version_and_the_transaction_are_passed(
    migrator: Any,
    write_plan: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sql: Any,
    database: str,
) -> None:
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(_recording(tmp_path, calls)))
    found = _problems(migrator, write_plan(PLAN), "--dsn", database)
    assert _at(found, "prefer-identity") == {(14, 47)}  # the real squawk ran behind it
    argvs = [json.loads(line)[0] for line in calls.read_text().splitlines()]
    (number,) = sql("show server_version_num")[0]
    version = f"--pg-version={int(number) // 10000}.{int(number) % 10000}"
    assert len(argvs) == 2
    assert all(version in argv for argv in argvs)
    modes = sorted(a for argv in argvs for a in argv if a.endswith("assume-in-transaction"))
    assert modes == ["--assume-in-transaction", "--no-assume-in-transaction"]
    without = tmp_path / "without.jsonl"
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(_recording(tmp_path, without)))
    _problems(migrator, write_plan(PLAN))
    assert not any("--pg-version" in a for a in without.read_text())


def test_squawk_is_not_run_without_a_sql_text(
    migrator: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = tmp_path / "called"
    monkeypatch.setenv("MIGRATOR_SQUAWK", str(_script(tmp_path, f"open({str(calls)!r}, 'w')")))
    plan = (
        "plan: p\nphases: [a, b]\ntransitions:\n  - {name: t, from: a, to: b, steps: "
        "[{name: w, wait: 1s}], post_checks: [{query: select 1, expect: 1}]}\n"
    )
    _problems(migrator, write_plan(plan))
    assert not calls.exists()


def test_parameters_become_positional_of_the_same_width() -> None:
    text = "select :owner, ':not', x::int, :a -- :b\nfrom t where k > :lo"
    assert positional(text) == "select $1    , ':not', x::int, $1 -- :b\nfrom t where k > $1 "
    assert len(positional(text)) == len(text)


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"),
    [
        ("select 'ééé'; create", 0, 17, "create"),  # columns are UTF-8 bytes
        ("a;\r\n\t\tcreate", 1, 2, "create"),  # CRLF ends a line; a tab is one
        ("a;\rcreate", 1, 0, "create"),  # so does a lone CR
        ("a;\n\ncreate", 2, 0, "create"),
    ],
)
def test_squawk_positions_are_offsets_in_the_text(
    text: str, line: int, column: int, expected: str
) -> None:
    offset = offset_of(text, line, column)
    assert offset is not None
    assert text[offset:].startswith(expected)


def test_a_position_outside_the_text_is_none() -> None:
    assert offset_of("select 1", 3, 0) is None
    assert offset_of("select 1", 0, 99) is None


def test_the_texts_of_a_call_are_found_again_by_line() -> None:
    group = _Group()
    first = SqlText(("sql",), "select 1;\r\ncreate index i on t (a)")
    second = SqlText(("sql",), "create index j on t (a)")
    group.add(0, first)
    group.add(3, second)
    assert "".join(group.parts) == (
        "select 1;\r\ncreate index i on t (a)\n;\ncreate index j on t (a)\n;\n"
    )
    assert group.find(1)[:3] == (0, first, 1)  # type: ignore[index]
    assert group.find(2)[:3] == (0, first, 2)  # type: ignore[index]  # the line `;` after it
    assert offset_of(first.text, 2, 0) is None
    assert group.find(3)[:3] == (3, second, 0)  # type: ignore[index]
