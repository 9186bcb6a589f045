"""The command action: argv without a shell, timeouts, output in the audit trail."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest


def plan_with(argv: str, extra: str = "") -> str:
    return f"""\
plan: cmd
kind: hotfix
steps:
  - name: run it
    command: {argv}
{extra}"""


def test_output_goes_to_the_audit_trail(migrator: Any, write_plan: Any, sql: Any) -> None:
    argv = f'["{sys.executable}", "-c", "print(\'deployed 3 functions\')"]'
    assert migrator("apply", write_plan(plan_with(argv))).code == 0
    memo = sql("select detail->'memo' from migrator.events where status = 'done'")[0][0]
    assert memo["exit_code"] == 0
    assert memo["stdout"] == "deployed 3 functions\n"


def test_no_shell_is_involved(
    migrator: Any, write_plan: Any, sql: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The program runs in the migrator's working folder: there, a shell would leave `pwned`.
    monkeypatch.chdir(tmp_path)
    argv = f'["{sys.executable}", "-c", "import sys; print(sys.argv[1])", "$(touch pwned); *"]'
    assert migrator("apply", write_plan(plan_with(argv))).code == 0
    assert not (tmp_path / "pwned").exists()
    memo = sql("select detail->'memo' from migrator.events where status = 'done'")[0][0]
    assert memo["stdout"] == "$(touch pwned); *\n"


def test_a_failing_program_fails_the_step(migrator: Any, write_plan: Any) -> None:
    argv = f'["{sys.executable}", "-c", "import sys; sys.exit(\'deploy refused\')"]'
    result = migrator("apply", write_plan(plan_with(argv)))
    assert result.code == 1
    assert "exited with 1: deploy refused" in result.out


def test_a_failing_program_keeps_all_its_output_in_the_audit_trail(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    program = (
        "import sys; print('checked 3 functions'); print('score_prism: stale', file=sys.stderr); "
        "sys.exit('deploy refused')"
    )
    argv = f'["{sys.executable}", "-c", "{program}"]'
    assert migrator("apply", write_plan(plan_with(argv))).code == 1
    ((detail,),) = sql(
        "select detail from migrator.events where kind = 'step' and status = 'failed'"
    )
    assert detail["error"].endswith("exited with 1: deploy refused")
    assert detail["memo"]["exit_code"] == 1
    assert detail["memo"]["stdout"] == "checked 3 functions\n"
    assert detail["memo"]["stderr"] == "score_prism: stale\ndeploy refused\n"


def test_a_program_that_runs_too_long_is_stopped(migrator: Any, write_plan: Any) -> None:
    argv = f'["{sys.executable}", "-c", "import time; time.sleep(30)"]'
    result = migrator(
        "apply",
        write_plan(plan_with(argv).replace("    command:", "    timeout: 500ms\n    command:")),
    )
    assert result.code == 1
    assert "ran longer than 0.5s and was stopped" in result.out


def test_a_missing_program_is_named(migrator: Any, write_plan: Any) -> None:
    result = migrator("apply", write_plan(plan_with('["no-such-program-xyz"]')))
    assert result.code == 1
    assert "no such program: no-such-program-xyz" in result.out


def test_a_secret_across_the_cut_of_the_output_leaves_no_part_behind(
    migrator: Any, write_plan: Any, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit trail keeps the last 4,000 characters of the output: the secret is masked
    before that cut, so the 10 characters of it after the cut are not kept either."""
    secret = "Zq7SecretTokenValue123"
    monkeypatch.setenv("DEPLOY_TOKEN", secret)
    code = "import sys; sys.stdout.write(sys.argv[1] + 'a' * 3990)"
    argv = f'["{sys.executable}", "-c", "{code}", "${{env:DEPLOY_TOKEN}}"]'
    assert migrator("apply", write_plan(plan_with(argv))).code == 0
    ((stored,),) = sql("select string_agg(detail::text, ' ') from migrator.events")
    assert "a" * 3990 in stored  # the output is there, cut
    for part in (secret[-10:], secret[-6:]):
        assert part not in stored
