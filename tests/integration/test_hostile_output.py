"""Hostile output never breaks the record of a run: a program printing NUL, bytes that are
not UTF-8 or 10 MB, an HTTP answer with NUL in it. Each run, as a real process, ends with
its exit code and one line, never a traceback, never a run left live without a process.
And a plugin's bug leaves the run interrupted with exit 6, one line naming it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import plans
from tests.httpserver import Server, running
from tests.processes import spawn
from tests.sites import installed_site

NUL_AND_BAD_BYTES = (
    "import sys; out = sys.stdout.buffer; out.write(b'before\\x00after \\xff\\xfe end\\n'); "
    "out.write(b'x' * 10_000_000); out.write(b'\\nlast line\\x00\\n'); out.flush()"
)


def run(*argv: str | Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = spawn(*argv, env=env)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def no_live_run(sql: Any) -> None:
    live = sql(
        "select id, status from migrator.runs where status not in "
        "('succeeded', 'failed', 'undone', 'undo_failed', 'interrupted')"
    )
    assert live == []


def command_step(program: str, name: str = "print it") -> str:
    return f"name: {name}\ncommand: {json.dumps([sys.executable, '-c', program])}"


def test_a_program_printing_nul_bad_bytes_and_10_mb_is_recorded(
    database: str, write_plan: Any, sql: Any, traced: None
) -> None:
    plan = write_plan(plans.phased("loud", [plans.traced("one"), command_step(NUL_AND_BAD_BYTES)]))
    code, out, err = run("apply", plan, "--to", "b", "--dsn", database)
    assert code == 0, out + err
    assert "Traceback" not in out + err
    ((memo,),) = sql(
        "select detail->'memo' from migrator.events where step = 'print it' and status = 'done'"
    )
    assert memo["exit_code"] == 0
    assert memo["stdout"].endswith("last line\\u0000\n")  # NUL kept, visibly
    assert len(memo["stdout"]) < 5000  # the command keeps the tail
    assert sql("select status from migrator.runs") == [("succeeded",)]


def test_a_failing_program_printing_nul_and_bad_bytes_is_undone_with_exit_1(
    database: str, write_plan: Any, sql: Any, traced: None
) -> None:
    program = NUL_AND_BAD_BYTES + "; sys.stderr.buffer.write(b'bad \\x00 \\xc3 news'); sys.exit(3)"
    plan = write_plan(plans.phased("loud", [plans.traced("one"), command_step(program)]))
    code, out, err = run("apply", plan, "--to", "b", "--dsn", database)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select step from undone") == [("one",)]
    ((error,),) = sql("select error from migrator.runs")
    assert "exited with 3: bad \\u0000 \ufffd news" in str(error)
    no_live_run(sql)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with running() as state:
        yield state


def test_an_http_answer_with_nul_in_it_is_recorded(
    database: str, write_plan: Any, sql: Any, traced: None, server: Server
) -> None:
    server.route("/broken", 500, b"went \x00 wrong \xff")
    server.route("/health", 200, {"state": "ok\u0000"})
    plan = write_plan(
        plans.phased(
            "answers",
            [plans.traced("one"), f"name: call\nhttp: {{method: POST, url: {server.url}/broken}}"],
            pre_checks=[
                f"{{name: healthy, http: {{url: {server.url}/health}}, expect: {{status: 200}}}}"
            ],
        )
    )
    code, out, err = run("apply", plan, "--to", "b", "--dsn", database)
    assert code == 1, out + err
    assert "Traceback" not in out + err
    assert sql("select status from migrator.runs") == [("undone",)]
    ((actual,),) = sql("select detail->'actual' from migrator.events where kind = 'check'")
    assert actual == {"status": 200, "json": {"state": "ok\\u0000"}}
    ((error,),) = sql("select detail->>'error' from migrator.events where status = 'failed'")
    assert "went \\u0000 wrong" in str(error)
    no_live_run(sql)


BUGGY = '''\
"""migrator-buggy: an action with a plain bug in it."""

from collections.abc import Callable
from typing import Any

import migrator


def run(ctx: migrator.StepContext, step: Any) -> None:
    settings: dict[str, str] = {}
    return settings["endpoint"]  # the bug: a key nobody set


def describe(step: Any) -> str:
    if getattr(step, "buggy", None) == "describe me":
        return step.no_such_field  # another bug, met outside any run
    return "a call"


def leave(ctx: migrator.StepContext, step: Any) -> None:
    raise SystemExit(int(step.exits))  # a plugin that ends the process: a bug too


@migrator.hookimpl
def migrator_register_actions(register: Callable[[migrator.ActionSpec], None]) -> None:
    register(migrator.ActionSpec(key="buggy", config=str, run=run, describe=describe))
    register(migrator.ActionSpec(key="exits", config=str, run=leave, describe=describe))
'''


@pytest.fixture
def buggy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """migrator-buggy 1.0, installed as pip would leave it; the environment that finds it."""
    with installed_site(tmp_path / "site", monkeypatch) as site:
        site.install("migrator_buggy", BUGGY, {"buggy": "migrator_buggy"}, version="1.0")
        yield {"PYTHONPATH": os.pathsep.join([str(site.root), os.environ.get("PYTHONPATH", "")])}


def test_a_plugins_bug_leaves_the_run_interrupted_with_exit_6_and_one_line(
    database: str, write_plan: Any, sql: Any, traced: None, buggy_plugin: dict[str, str]
) -> None:
    plan = write_plan(
        plans.phased(
            "bugged",
            [plans.traced("one"), "name: two\nbuggy: call it", plans.traced("three")],
        )
    )
    code, out, err = run("apply", plan, "--to", "b", "--dsn", database, env=buggy_plugin)
    assert code == 6, out + err
    assert "Traceback" not in out + err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "internal error (a bug) while step two ran: KeyError: 'endpoint'" in line
    assert "run 1 (go) of plan bugged is left interrupted" in line
    assert f"`migrator resume {plan}`" in line and f"`migrator rollback {plan}`" in line
    assert sql("select status from migrator.runs") == [("interrupted",)]
    assert sql("select step from ran") == [("one",)]
    assert sql("select step from undone") == []  # nothing undone: a person settles it
    ((bug,),) = sql("select detail->'bug' from migrator.events where status = 'failed'")
    assert bug is True
    no_live_run(sql)

    shown = run("rollback", plan, "--dsn", database, env=buggy_plugin)
    assert shown[0] == 0, shown[1] + shown[2]
    assert sql("select step from undone") == [("one",)]
    assert sql("select status from migrator.runs") == [("undone",)]


@pytest.mark.parametrize("status", ["0", "1"])
def test_a_plugin_that_calls_exit_is_a_bug_not_an_exit_code(
    status: str,
    database: str,
    write_plan: Any,
    sql: Any,
    traced: None,
    buggy_plugin: dict[str, str],
) -> None:
    """exit(0) from an action would say "done", exit(1) "undone": neither is true."""
    plan = write_plan(
        plans.phased(
            "exits", [plans.traced("one"), f"name: two\nexits: '{status}'", plans.traced("three")]
        )
    )
    code, out, err = run("apply", plan, "--to", "b", "--dsn", database, env=buggy_plugin)
    assert code == 6, out + err
    assert "Traceback" not in out + err
    assert f"the action exits called exit({int(status)!r})" in err
    assert sql("select status from migrator.runs") == [("interrupted",)]
    assert sql("select step from ran") == [("one",)]
    no_live_run(sql)


def test_traceback_shows_the_stack_of_a_bug(
    database: str, write_plan: Any, buggy_plugin: dict[str, str]
) -> None:
    plan = write_plan(plans.hotfix("bugged", ["name: two\nbuggy: call it"]))
    code, _out, err = run("--traceback", "apply", plan, "--dsn", database, env=buggy_plugin)
    assert code != 0
    assert "Traceback" in err and 'settings["endpoint"]' in err


def test_a_bug_outside_any_run_is_one_line_and_exit_6(
    database: str, write_plan: Any, buggy_plugin: dict[str, str]
) -> None:
    plan = write_plan(plans.hotfix("bugged", ["name: two\nbuggy: describe me"]))
    code, out, err = run("docs", plan, env=buggy_plugin)
    assert code == 6, out + err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: internal error (a bug): AttributeError:")
    assert "`--traceback` shows where it happened" in line
