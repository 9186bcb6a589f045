"""The command line as CI pipelines and people use it: `validate`, `schema`, `--help`, bad
usage, exit codes (README.md), in-process through `main(argv)` and as a real process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import HEAVY_LIBRARIES
from tests.helpers import run_cli as run

VALID = """\
plan: ir-07-profiles-rls
kind: hotfix
steps:
  - name: owners may write their profile
    lock_timeout: 1s
    policy: {table: public.profiles, name: owner_write, to: authenticated, using: id = auth.uid()}
post_checks:
  - policy_exists: {table: public.profiles, name: owner_write}
"""

INVALID = """\
plan: ir-07-profiles-rls
kind: hotfix
steps:
  - name: owners may write their profile
    policy: {table: public.profiles, to: authenticated}
post_checks:
  - policy_exists: {table: public.profiles, name: owner_write}
"""
INVALID_PROBLEM = "5:5: steps[0].policy: missing required field 'name'"

ONLY_WARNINGS = """\
plan: one-way
phases: [legacy, dual_write]
transitions:
  - name: go
    from: legacy
    to: dual_write
    steps:
      - flag: {name: WRITE_UNIFIED, value: true}
"""
WARNING = "4:11: transitions[0].name: warning: transition 'go' has no post-checks"

ACTION_KEYS = ["backfill", "flag", "http", "manual", "policy", "rls", "sql", "wait"]
CHECK_KEYS = ["flag_is", "http", "policy_exists", "query", "rls_probe"]
UNREACHABLE_DSN = "postgresql://nobody@127.0.0.1:1/nowhere"


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- validate -----------------------------------------------------------------------------


def test_validate_a_valid_plan_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, VALID)

    code, out, _ = run(capsys, "validate", path)

    assert code == 0
    assert out == f"{path} (plan ir-07-profiles-rls): valid, 0 error(s), 0 warning(s)\n"


def test_validate_an_invalid_plan_exits_2_pointing_at_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, INVALID)

    code, out, _ = run(capsys, "validate", path)

    assert code == 2
    assert out.splitlines() == [
        f"{path}:{INVALID_PROBLEM}",
        f"{path}: INVALID, 1 error(s), 0 warning(s)",
    ]


def test_validate_reports_every_plan_and_fails_if_any_is_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, VALID, "good.yaml")
    bad = write(tmp_path, INVALID, "bad.yaml")

    code, out, _ = run(capsys, "validate", good, bad)

    assert code == 2
    assert f"{bad}:{INVALID_PROBLEM}" in out
    assert f"{good} (plan ir-07-profiles-rls): valid, 0 error(s), 0 warning(s)" in out
    assert f"{bad}: INVALID, 1 error(s), 0 warning(s)" in out


def test_validate_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.yaml"

    code, out, _ = run(capsys, "validate", missing)

    assert code == 2
    assert out.startswith(f"{missing}:1:1: cannot read the plan: ")


def test_validate_json_is_one_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, VALID, "good.yaml")
    bad = write(tmp_path, INVALID, "bad.yaml")

    code, out, _ = run(capsys, "validate", "--output", "json", good, bad)

    assert code == 2
    document: dict[str, Any] = json.loads(out)
    assert set(document) == {"valid", "plans", "problems"}
    assert document["valid"] is False
    assert [(p["file"], p["valid"]) for p in document["plans"]] == [
        (str(good), True),
        (str(bad), False),
    ]
    assert document["problems"] == [
        {
            "file": str(bad),
            "line": 5,
            "column": 5,
            "path": "steps[0].policy",
            "message": "missing required field 'name'",
            "severity": "error",
        }
    ]


def test_warnings_alone_keep_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ONLY_WARNINGS)

    code, out, _ = run(capsys, "validate", path)
    assert code == 0
    assert f"{path}:{WARNING}" in out
    assert f"{path} (plan one-way): valid, 0 error(s), 1 warning(s)" in out

    code, out, _ = run(capsys, "validate", "--output", "json", path)
    assert code == 0
    document = json.loads(out)
    assert document["valid"] is True
    assert [(p["line"], p["column"], p["severity"]) for p in document["problems"]] == [
        (4, 11, "warning")
    ]
    assert set(document["problems"][0]) == {
        "file",
        "line",
        "column",
        "path",
        "message",
        "severity",
        "rule",
    }
    assert document["problems"][0]["rule"] == "no-post-checks"


# -- schema, help, bad usage ----------------------------------------------------------------


def test_schema_is_json_naming_every_builtin_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")

    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    definitions: dict[str, Any] = schema["$defs"]
    for key in ACTION_KEYS:
        assert f'"{key}"' in out
        assert any(
            key in d.get("required", []) and "rollback" in d.get("properties", {})
            for d in definitions.values()
        ), f"no step model for the action key {key!r}"
    for key in CHECK_KEYS:
        assert any(
            key in d.get("required", []) and "on_fail" in d.get("properties", {})
            for d in definitions.values()
        ), f"no check model for the check key {key!r}"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")

    assert code == 0
    commands = out.split("Commands:", 1)[1].split()
    assert {"validate", "schema", "plugins"} <= set(commands)


def test_an_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "valdiate", "plan.yaml")

    assert code == 2
    assert out == ""
    assert "No such command 'valdiate'" in err


def test_validate_without_a_plan_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate")

    assert code == 2
    assert "Missing argument" in err


@pytest.mark.parametrize("bad", ["novalue", "1x=2", "=value"])
def test_var_must_be_name_equals_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    path = write(tmp_path, VALID)

    code, out, err = run(capsys, "plan", path, "--var", bad, "--dsn", UNREACHABLE_DSN)

    assert code == 2, "a bad --var is bad usage, found before any database is asked"
    assert out == ""
    assert f"'{bad}': write NAME=VALUE" in err


def test_a_good_var_gets_past_parsing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The control for the test above: the same command line with NAME=VALUE goes on to
    # the database, which cannot be reached (exit 5, not 2).
    path = write(tmp_path, VALID)

    code, _, err = run(capsys, "plan", path, "--var", "version=2", "--dsn", UNREACHABLE_DSN)

    assert code == 5
    assert "cannot reach the database" in err


# -- as a real process ------------------------------------------------------------------------


def console_script() -> Path:
    script = Path(sys.prefix) / "bin" / "migrator"
    if script.exists():
        return script
    found = shutil.which("migrator")
    assert found, "the migrator console script is not installed"
    return Path(found)


def spawn(
    argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    return done, time.perf_counter() - started


PROFILE_IMPORTS = {"PYTHONPROFILEIMPORTTIME": "1"}  # the process logs each import on stderr


def imported(stderr: str) -> set[str]:
    """The top-level packages a process imported, read from its PYTHONPROFILEIMPORTTIME log."""
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize("how", ["python -m migrator", "console script"])
def test_the_real_process_validates_and_exits(tmp_path: Path, how: str) -> None:
    command: list[str | Path] = (
        [sys.executable, "-m", "migrator"] if how == "python -m migrator" else [console_script()]
    )
    good = write(tmp_path, VALID, "good.yaml")
    bad = write(tmp_path, INVALID, "bad.yaml")

    done, _ = spawn([*command, "validate", "good.yaml"], tmp_path)
    assert (done.returncode, done.stdout) == (
        0,
        "good.yaml (plan ir-07-profiles-rls): valid, 0 error(s), 0 warning(s)\n",
    ), done.stderr

    done, _ = spawn([*command, "validate", "bad.yaml"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines()[0] == f"bad.yaml:{INVALID_PROBLEM}"

    done, _ = spawn([*command, "validate", "--output", "json", str(good), str(bad)], tmp_path)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["valid"] is False

    done, _ = spawn([*command, "frobnicate"], tmp_path)
    assert done.returncode == 2
    assert "No such command 'frobnicate'" in done.stderr

    assert not (tmp_path / ".migrator").exists(), "validate must not start a database"


def test_the_console_script_answers_quickly(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    script = console_script()

    helped, help_seconds = spawn([script, "--help"], tmp_path, PROFILE_IMPORTS)
    validated, validate_seconds = spawn(
        [script, "validate", "plan.yaml"], tmp_path, PROFILE_IMPORTS
    )

    print(f"\nmigrator --help: {help_seconds:.3f}s; migrator validate: {validate_seconds:.3f}s")
    assert helped.returncode == 0
    assert {"validate", "schema", "plugins"} <= set(helped.stdout.split("Commands:")[1].split())
    assert validated.returncode == 0, validated.stderr
    # Quick, seen in what the real process did rather than on a clock: the way to either
    # answer imports none of the heavy libraries (tests/unit/test_startup.py: in process).
    assert "click" in imported(helped.stderr)  # the log is read
    assert imported(helped.stderr) & set(HEAVY_LIBRARIES) == set()
    assert imported(validated.stderr) & set(HEAVY_LIBRARIES) == set()
